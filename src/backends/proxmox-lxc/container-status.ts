/**
 * A CT's OCI status, read locally: stopped once the monitor recorded an exit
 * status or LXC has no running init; paused when its cgroup is frozen;
 * running once `start` released the app; created before that.
 */
import { existsSync } from 'node:fs';
import { readExitStatus } from '../../monitor/index.js';
import type { BackendStatus } from '../../runtime/backend.js';
import { startedMarker, type LxcContainerData } from './container-data.js';
import { pveAnnotations } from './hook-state.js';
import { cgroupDirOf, initPid, isFrozen } from './lxc-local.js';
import { isMonitorAlive } from './monitor/monitor-process.js';

export async function containerStatus(data: LxcContainerData, lxcPath: string, containerDir: string): Promise<BackendStatus> {
  const annotations = pveAnnotations(data.vmid, data.node);
  const stopped: BackendStatus = { status: 'stopped', pid: 0, annotations };
  if (data.vmid === undefined || data.monitorDir === undefined) return stopped;
  if ((await readExitStatus(data.monitorDir)) !== undefined) return stopped;
  // A monitor that is gone without recording a status was killed: the engine saw the container end.
  if (data.monitorPid !== undefined && !(await isMonitorAlive(data.monitorPid, data.monitorDir))) return stopped;
  const pid = await initPid(lxcPath, data.vmid);
  if (pid === undefined) return stopped;
  const cgroup = await cgroupDirOf(pid);
  if (cgroup !== undefined && (await isFrozen(cgroup))) return { status: 'paused', pid, annotations };
  return { status: existsSync(startedMarker(containerDir)) ? 'running' : 'created', pid, annotations };
}
