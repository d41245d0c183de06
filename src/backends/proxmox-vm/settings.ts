/**
 * The `proxmox` section of the proxrun config as the proxmox-vm backend uses it: defaults filled in,
 * and every problem one line naming the `proxmox.*` key. The VM route needs the node-local CLI
 * transport: `args` and absolute `import-from` paths are root@pam only (docs/proxmox-vm.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import { PRIVATE_RUN_DIR } from '../../proxmox/private-dir.js';
import { proxmoxDefaults } from '../../proxmox/settings.js';
import type { ProxrunConfig } from '../../runtime/config.js';

export interface VmBackendSettings {
  readonly node: string;
  readonly storage: string;
  readonly cliPath: string;
  readonly vmidRange: readonly [number, number];
  readonly timeoutSeconds: number;
  /** `proxmox.vm.kernel`; undefined: the newest /boot/vmlinuz-*-cloud-amd64. */
  readonly kernelPath: string | undefined;
  /** VM memory in MiB when the bundle sets no memory limit. */
  readonly defaultMemoryMiB: number;
  /** VM cores when the bundle sets no CPU quota. */
  readonly defaultCores: number;
  /** Where the shared initramfs is cached. */
  readonly cacheDir: string;
  /** Where each VM's folder (initrd, chardev sockets, monitor files) lives. */
  readonly runBase: string;
}

export const DEFAULT_VM_MEMORY_MIB = 256;
/** Below this the guest kernel and initramfs do not boot reliably. */
export const MIN_VM_MEMORY_MIB = 64;
export const INITRAMFS_CACHE_DIR = '/var/cache/proxrun/vm-initramfs';
/** Outside every state root (a container id `vm` must not name it), in the folder only root controls. */
export const VM_RUN_BASE = path.join(PRIVATE_RUN_DIR, 'vm');

export function resolveVmSettings(config: ProxrunConfig): { settings?: VmBackendSettings; problems: string[] } {
  const common = proxmoxDefaults(config);
  const vm = config.proxmox?.vm ?? {};
  const settings: VmBackendSettings = {
    node: common.node,
    storage: common.storage,
    cliPath: common.cliPath,
    vmidRange: common.vmidRange,
    timeoutSeconds: common.timeoutSeconds,
    kernelPath: vm.kernel,
    defaultMemoryMiB: vm.memory ?? DEFAULT_VM_MEMORY_MIB,
    defaultCores: vm.cores ?? 1,
    cacheDir: INITRAMFS_CACHE_DIR,
    runBase: VM_RUN_BASE,
  };
  const problems: string[] = [];
  if (common.transport !== 'cli') {
    problems.push('proxrun config: proxmox.transport: the proxmox-vm backend needs "cli" (qm on this node): a VM\'s args and disk import from a path are root@pam only, which an API token never is');
  }
  const [low, high] = settings.vmidRange;
  if (low > high) problems.push(`proxrun config: proxmox.vmidRange: lowest ${low} is above highest ${high}`);
  if (!path.isAbsolute(settings.cliPath)) problems.push(`proxrun config: proxmox.cliPath: ${JSON.stringify(settings.cliPath)} is not an absolute path`);
  else if (!isExecutable(path.join(settings.cliPath, 'qm'))) problems.push(`proxrun config: proxmox.cliPath: ${settings.cliPath} has no executable qm`);
  if (settings.kernelPath !== undefined && !path.isAbsolute(settings.kernelPath)) {
    problems.push(`proxrun config: proxmox.vm.kernel: ${JSON.stringify(settings.kernelPath)} is not an absolute path`);
  }
  if (typeof vm.initrd === 'string') {
    problems.push('proxrun config: proxmox.vm.initrd: proxrun builds the guest initramfs itself (busybox and the kernel\'s virtio modules); leave it unset');
  }
  if (!Number.isInteger(settings.defaultMemoryMiB) || settings.defaultMemoryMiB < MIN_VM_MEMORY_MIB) {
    problems.push(`proxrun config: proxmox.vm.memory: ${settings.defaultMemoryMiB} must be an integer of at least ${MIN_VM_MEMORY_MIB} (MiB)`);
  }
  if (!Number.isInteger(settings.defaultCores) || settings.defaultCores < 1) {
    problems.push(`proxrun config: proxmox.vm.cores: ${settings.defaultCores} must be a positive integer`);
  }
  return problems.length > 0 ? { problems } : { settings, problems };
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
