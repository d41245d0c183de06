/**
 * A VM container's OCI status, read locally: stopped once the monitor recorded an exit status, or
 * the monitor or QEMU is gone; running once `start` let the payload run; created before that.
 * The pid is QEMU's: a VM is not a namespace, and QEMU is the host process that holds it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { BackendStatus } from '../../runtime/backend.js';
import { isVmMonitor } from './monitor/monitor-spawn.js';
import { startedMarker, type VmContainerData } from './vm-data.js';
import { exitStatusFile } from './monitor/vm-dir.js';

export const VMID_ANNOTATION = 'io.proxrun.pve.vmid';
export const NODE_ANNOTATION = 'io.proxrun.pve.node';

export function vmAnnotations(data: VmContainerData): Record<string, string> {
  const annotations: Record<string, string> = {};
  if (data.vmid !== undefined) annotations[VMID_ANNOTATION] = String(data.vmid);
  if (data.node !== undefined) annotations[NODE_ANNOTATION] = data.node;
  return annotations;
}

/** Whether `pid` is a live QEMU process (a reused pid runs something else). */
export async function isQemu(pid: number): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && /qemu/.test(cmdline.split('\0')[0] ?? '');
  } catch {
    return false;
  }
}

export async function vmStatus(data: VmContainerData, containerDir: string): Promise<BackendStatus> {
  const annotations = vmAnnotations(data);
  const stopped: BackendStatus = { status: 'stopped', pid: 0, annotations };
  if (data.vmid === undefined || data.vmDir === undefined || data.monitorPid === undefined) return stopped;
  if (existsSync(exitStatusFile(data.vmDir))) return stopped;
  if (!(await isVmMonitor(data.monitorPid, data.vmDir))) return stopped;
  if (data.qemuPid === undefined || !(await isQemu(data.qemuPid))) return stopped;
  return { status: existsSync(startedMarker(containerDir)) ? 'running' : 'created', pid: data.qemuPid, annotations };
}
