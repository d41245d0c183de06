/**
 * The `proxmox` section of the proxrun config as the proxmox-vm backend uses it: the one resolver of
 * src/proxmox/settings.ts (schema defaults, problems naming the key), plus what this backend needs:
 * the CLI transport, since a VM's `args` and a disk import from a path are root@pam only
 * (docs/proxmox-vm.md), and `qm` in cliPath.
 */
import { PROXMOX_VM_SETTINGS_MINIMUMS } from '../../oci/generated/proxrun-config-constants.js';
import { nodeProblems, resolveProxmoxSettings, type ProxmoxNodeSettings } from '../../proxmox/settings.js';
import path from 'node:path';
import { PRIVATE_RUN_DIR } from '../../proxmox/private-dir.js';
import type { ProxrunConfig } from '../../runtime/config.js';

export interface VmBackendSettings extends ProxmoxNodeSettings {
  /** Where the shared initramfs is cached. */
  readonly cacheDir: string;
  /** Where each VM's folder (initrd, chardev sockets, monitor files) lives. */
  readonly runBase: string;
}

/** Below this the guest kernel and initramfs do not boot reliably (the schema's minimum of proxmox.vm.memory). */
export const MIN_VM_MEMORY_MIB = PROXMOX_VM_SETTINGS_MINIMUMS.memory;
export const INITRAMFS_CACHE_DIR = '/var/cache/proxrun/vm-initramfs';
/** Outside every state root (a container id `vm` must not name it), in the folder only root controls. */
export const VM_RUN_BASE = path.join(PRIVATE_RUN_DIR, 'vm');

export function resolveVmSettings(config: ProxrunConfig): { settings?: VmBackendSettings; problems: string[] } {
  const { settings, problems } = resolveProxmoxSettings(config);
  if (settings === undefined) return { problems };
  const more: string[] = [];
  if (settings.transport !== 'cli') {
    more.push('proxrun config: proxmox.transport: the proxmox-vm backend needs "cli" (qm on this node): a VM\'s args and disk import from a path are root@pam only, which an API token never is');
  }
  more.push(...nodeProblems(settings, { dirs: ['cliPath'], tools: ['qm'] }));
  return more.length > 0 ? { problems: more } : { settings: { ...settings, cacheDir: INITRAMFS_CACHE_DIR, runBase: VM_RUN_BASE }, problems };
}
