/**
 * Ending what a proxrun killed half-way may have left running, for both transports: a node tool's
 * process (recorded with its start time) is stopped with SIGTERM and, after a grace period,
 * SIGKILL; a task is asked to stop (DELETE /nodes/{node}/tasks/{upid}, which sends its worker
 * SIGTERM) and waited for until Proxmox reports it stopped.
 */
import { stopProcess } from '../lib/proc.js';
import { ProxmoxError, type InflightCall } from './client.js';
import type { TaskStatusReply } from './tasks.js';

/** How long a tool process gets between SIGTERM and SIGKILL: pct's worker cleans up after SIGTERM. */
const PROCESS_GRACE_MS = 10_000;
const POLL_MS = 100;

export interface TaskControl {
  stopTask(node: string, upid: string): Promise<void>;
  taskStatus(node: string, upid: string): Promise<TaskStatusReply>;
  readonly timeoutSeconds: number;
}

export async function settleCall(call: InflightCall, tasks: TaskControl): Promise<void> {
  if (call.kind === 'process') {
    try {
      await stopProcess(call.pid, call.startTime, PROCESS_GRACE_MS);
    } catch (err) {
      throw new ProxmoxError(call.step, `the earlier call is still running: ${(err as Error).message}`);
    }
    return;
  }
  await waitTaskStopped(call.node, call.upid, call.step, tasks);
}

/** Stops a task unless it has stopped already, and waits until Proxmox says it has. */
export async function waitTaskStopped(node: string, upid: string, step: string, tasks: TaskControl): Promise<void> {
  const deadline = Date.now() + tasks.timeoutSeconds * 1000;
  let asked = false;
  for (;;) {
    let status: TaskStatusReply;
    try {
      status = await tasks.taskStatus(node, upid);
    } catch (err) {
      // A task Proxmox no longer knows (its log rotated away, another node's) cannot be running here.
      if (err instanceof ProxmoxError && /no such task/i.test(err.detail)) return;
      throw err;
    }
    if (status.status === 'stopped') return;
    if (!asked) {
      await tasks.stopTask(node, upid);
      asked = true;
    }
    if (Date.now() >= deadline) throw new ProxmoxError(step, `the task ${upid} of an earlier call did not stop within ${tasks.timeoutSeconds} s`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** UPIDs of running tasks in a task list answer (GET /nodes/{node}/tasks). */
export function runningUpids(data: unknown): string[] {
  if (!Array.isArray(data)) return [];
  const out: string[] = [];
  for (const item of data) {
    const o = typeof item === 'object' && item !== null ? (item as Record<string, unknown>) : {};
    // A finished task has an endtime and its exit status as `status`; a running one neither.
    if (typeof o['upid'] === 'string' && o['endtime'] === undefined) out.push(o['upid']);
  }
  return out;
}
