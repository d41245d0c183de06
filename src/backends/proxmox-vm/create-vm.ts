/**
 * `create` as a Proxmox VM: the guest kernel and the cached initramfs, the per-VM initrd (spec
 * appended), the ext4 disk image of the rootfs, the VM in a VMID from the range (direct kernel
 * boot and the chardevs in `args`, the disk imported as `virtio0`), `qm start`, the monitor, and
 * the wait for the guest at its start gate: nothing of the payload has run when create returns.
 * Progress is saved as each piece exists; on failure everything made is destroyed and the error
 * names the step.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { allocateAndCreate, isVmidTaken, type ProxmoxClient, type PveParams } from '../../proxmox/index.js';
import type { QemuClient } from '../../proxmox/qemu.js';
import type { CreateRequest } from '../../runtime/backend.js';
import { logDebug } from '../../runtime/log.js';
import { buildDiskImage } from './rootfs/disk-image.js';
import { ensureBaseInitramfs, formatArgsLine, guestQemuArgs, locateGuestKernel, writeVmInitrd } from './guest/index.js';
import { destroyVm } from './destroy-vm.js';
import { spawnVmMonitor } from './monitor/monitor-spawn.js';
import { writePidFile } from '../../runtime/pid-file.js';
import type { VmBackendSettings } from './settings.js';
import { step } from '../../proxmox/step.js';
import { ensureTrustedDir } from '../../proxmox/private-dir.js';
import { saveProgress, type VmContainerData } from './vm-data.js';
import { vmDirFor, vmInitrdPath } from './monitor/vm-dir.js';
import type { VmPlan } from './translate/vm-plan.js';
import { waitForGate } from './monitor/wait-gate.js';
import { copyFilesIntoImage } from './rootfs/image-files.js';
import { createDirMapping, mappingId } from './dir-mappings.js';
import type { GuestShare } from './guest/index.js';

/**
 * qemu-server starts every VM with `-boot menu=on`, and SeaBIOS then waits about 2.5 s for a key
 * before it even loads the -kernel; `args` come last and QEMU merges a repeated -boot, so this
 * turns the menu off for our VMs only.
 */
const BOOT_MENU_OFF = ['-boot', 'menu=off'];

export interface CreateVmInputs {
  readonly req: CreateRequest;
  readonly plan: VmPlan;
  readonly settings: VmBackendSettings;
  readonly pve: ProxmoxClient;
  readonly qemu: QemuClient;
  readonly containerDir: string;
  readonly proxrunVersion: string;
}

/** Proxmox VM names are DNS names. */
function vmName(id: string): string {
  const name = `proxrun-${id}`.toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 63).replace(/-+$/, '');
  return name;
}

export function vmCreateParams(inputs: { id: string; plan: VmPlan; storage: string; args: string; diskImage: string; mappings?: readonly string[] }): PveParams {
  const shares: PveParams = {};
  (inputs.mappings ?? []).forEach((id, index) => { shares[`virtiofs${index}`] = id; });
  return {
    ...shares,
    name: vmName(inputs.id),
    description: `proxrun container ${inputs.id}`,
    ostype: 'l26',
    memory: inputs.plan.memoryMiB,
    cores: inputs.plan.cores,
    vga: 'none',
    args: inputs.args,
    virtio0: `${inputs.storage}:0,import-from=${inputs.diskImage}`,
  };
}

export async function createVm(inputs: CreateVmInputs): Promise<VmContainerData> {
  const { req, plan, settings, pve, qemu, containerDir } = inputs;
  const data: VmContainerData = { node: settings.node };
  const save = (): void => saveProgress(containerDir, data);
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const begin = performance.now();
    try {
      return await step(name, fn);
    } finally {
      timings[name] = Math.round(performance.now() - begin);
    }
  };
  try {
    const kernel = await timed('guest kernel', () => locateGuestKernel(settings.kernelPath === undefined ? {} : { kernelPath: settings.kernelPath }));
    const base = await timed('initramfs', () => ensureBaseInitramfs({ kernel, cacheDir: settings.cacheDir, proxrunVersion: inputs.proxrunVersion }));
    const vmDir = vmDirFor(settings.runBase, containerDir);
    data.vmDir = vmDir;
    save();
    const shares: GuestShare[] = plan.shares.map((share, index) => ({ tag: mappingId(vmDir, index), destination: share.destination, readonly: share.readonly }));
    await timed('per-VM initrd', async () => {
      ensureTrustedDir(settings.runBase);
      await mkdir(vmDir, { recursive: true, mode: 0o700 });
      await writeVmInitrd(base.path, { ...plan.guest, ...(shares.length > 0 ? { shares } : {}) }, vmInitrdPath(vmDir));
    });
    const diskImage = path.join(containerDir, 'rootfs.ext4');
    data.diskImage = diskImage;
    save();
    await timed('disk image', () => buildDiskImage(req.record.rootfs, diskImage));
    const bindFiles = path.join(containerDir, 'bind-files');
    await timed('bind-mounted files', () => copyFilesIntoImage(diskImage, plan.fileCopies, bindFiles));
    await rm(bindFiles, { recursive: true, force: true });
    if (shares.length > 0) {
      data.mappings = shares.map((share) => share.tag);
      save();
      const tools = { cliPath: settings.cliPath, timeoutSeconds: settings.timeoutSeconds };
      await timed('directory mappings', async () => {
        for (const [index, share] of plan.shares.entries()) await createDirMapping(tools, shares[index]?.tag ?? '', settings.node, share.source);
      });
    }
    const args = formatArgsLine([...guestQemuArgs({ kernelPath: kernel.kernelPath, initrdPath: vmInitrdPath(vmDir), runDir: vmDir }), ...BOOT_MENU_OFF]);
    const params = vmCreateParams({ id: req.record.id, plan, storage: settings.storage, args, diskImage, ...(data.mappings !== undefined ? { mappings: data.mappings } : {}) });
    const vmid = await timed('create VM', () => allocateAndCreate(pve, settings.vmidRange, async (vmid) => {
      // Recorded before the create: a create task that failed or hung after Proxmox claimed the
      // id leaves the VM's config behind, and only a recorded VMID lets the cleanup destroy it.
      data.vmid = vmid;
      save();
      try {
        await qemu.createVm(settings.node, vmid, params);
      } catch (err) {
        // Someone else's VM holds the id: never ours to destroy; the allocation tries another.
        if (isVmidTaken(err)) {
          delete data.vmid;
          save();
        }
        throw err;
      }
    }));
    await rm(diskImage, { force: true });
    delete data.diskImage;
    save();
    await timed('start VM', () => qemu.startVm(settings.node, vmid));
    data.monitorPid = await timed('start monitor', () => spawnVmMonitor(vmDir));
    save();
    await timed('guest boot', () => waitForGate(vmDir, data.monitorPid ?? 0, settings.timeoutSeconds * 1000));
    const status = await timed('VM status', () => qemu.vmStatus(settings.node, vmid));
    if (status.pid !== undefined) data.qemuPid = status.pid;
    save();
    if (req.pidFile !== undefined) await timed('write pid file', () => writePidFile(req.pidFile ?? '', data.monitorPid ?? 0));
    await logDebug('proxmox-vm create', { vmid, timingsMs: timings });
    return data;
  } catch (err) {
    try {
      await destroyVm(data, qemu, { cliPath: settings.cliPath, timeoutSeconds: settings.timeoutSeconds });
      saveProgress(containerDir, {});
    } catch {
      // The progress stays: the delete the lifecycle runs after a failed create tries once more.
    }
    throw err;
  }
}
