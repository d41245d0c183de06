/**
 * Removes everything create made, in an order that lets the monitor report on
 * its own: the CT is destroyed with force and purge (a running init ends, the
 * monitor records the status and exits; the lock a failed create left is lifted
 * first), then a monitor still alive is killed
 * with its relays, then the monitor folder and any base template go.
 * Safe to repeat: whatever is already gone is skipped.
 */
import { rm } from 'node:fs/promises';
import type { LxcContainerData } from './container-data.js';
import { killMonitorGroup } from './monitor/monitor-process.js';
import { isMissingGuest } from '../../proxmox/step.js';
import type { PveOps } from './pve-ops.js';
import type { LxcBackendSettings } from './settings.js';

export async function destroyContainer(data: LxcContainerData, settings: LxcBackendSettings, ops: PveOps): Promise<void> {
  const failures: string[] = [];
  if (data.vmid !== undefined) {
    try {
      await destroyCt(ops, data.node ?? settings.node, data.vmid);
    } catch (err) {
      if (!isMissingGuest(err)) failures.push((err as Error).message);
    }
  }
  if (data.monitorPid !== undefined && data.monitorDir !== undefined) await killMonitorGroup(data.monitorPid, data.monitorDir);
  if (data.monitorDir !== undefined) await rm(data.monitorDir, { recursive: true, force: true });
  if (data.templateVolid !== undefined) {
    try {
      await ops.deleteVolume(data.node ?? settings.node, data.templateStorage ?? settings.templateStorage, data.templateVolid);
    } catch (err) {
      if (!isMissingGuest(err)) failures.push((err as Error).message);
    }
  }
  if (failures.length > 0) throw new Error(failures.join('; '));
}

/**
 * Destroys with force and purge. A create that failed half-way leaves the config locked
 * (`lock: create`), which destroy refuses; proxrun made that lock, so it removes it and retries.
 */
async function destroyCt(ops: PveOps, node: string, vmid: number): Promise<void> {
  try {
    await ops.destroyCt(node, vmid, { force: true, purge: true });
  } catch (err) {
    if (!/locked \(create\)/.test((err as Error).message)) throw err;
    await ops.setCtConfig(node, vmid, {}, ['lock']);
    await ops.destroyCt(node, vmid, { force: true, purge: true });
  }
}
