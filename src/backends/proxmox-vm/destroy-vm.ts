/**
 * Removes everything create made: the VM is stopped (a guest at its gate or running its payload
 * ends; the monitor then records 137 and exits by itself) and destroyed with purge, which frees
 * its imported disk; a monitor still alive after a short grace is killed; the VM folder (initrd,
 * sockets, monitor files) and a disk image not yet imported go. Safe to repeat: whatever is
 * already gone is skipped. A VM a killed or failed create left locked (`lock: create`) is stopped and
 * destroyed with `skiplock` once no task of it runs any more (qm allows that to root).
 */
import { rm } from 'node:fs/promises';
import type { ProxmoxClient } from '../../proxmox/client.js';
import { despiteCreateLock } from '../../proxmox/create-lock.js';
import { isVmMonitor, killVmMonitor } from './monitor/monitor-spawn.js';
import { isMissingGuest } from '../../proxmox/step.js';
import type { VmContainerData } from './vm-data.js';

const MONITOR_GRACE_MS = 3000;

async function monitorEnds(pid: number, vmDir: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await isVmMonitor(pid, vmDir)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}

export async function destroyVm(data: VmContainerData, pve: ProxmoxClient, defaultNode: string, interrupted: boolean): Promise<void> {
  const failures: string[] = [];
  const node = data.node ?? defaultNode;
  const vmid = data.vmid;
  if (vmid !== undefined) {
    try {
      await despiteCreateLock(pve, node, vmid, interrupted, () => pve.stopVm(node, vmid), () => pve.stopVm(node, vmid, { skiplock: true }));
    } catch (err) {
      if (!isMissingGuest(err)) failures.push((err as Error).message);
    }
    try {
      await despiteCreateLock(pve, node, vmid, false, () => pve.destroyVm(node, vmid, { purge: true }), () => pve.destroyVm(node, vmid, { purge: true, skiplock: true }));
    } catch (err) {
      if (!isMissingGuest(err)) failures.push((err as Error).message);
    }
  }
  // After the VM: a mapping is still referenced by the VM's virtiofsN while the VM exists.
  for (const id of data.mappings ?? []) {
    try {
      await pve.deleteDirMapping(id);
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  if (data.monitorPid !== undefined && data.vmDir !== undefined && !(await monitorEnds(data.monitorPid, data.vmDir, MONITOR_GRACE_MS))) {
    await killVmMonitor(data.monitorPid, data.vmDir);
  }
  if (data.vmDir !== undefined) await rm(data.vmDir, { recursive: true, force: true });
  if (data.diskImage !== undefined) await rm(data.diskImage, { force: true });
  if (failures.length > 0) throw new Error(failures.join('; '));
}
