/**
 * Proxmox worker tasks: parsing UPIDs and waiting for a task to stop. A task succeeded when its
 * exit status is `OK` or `WARNINGS: n`; anything else is the failure text Proxmox recorded.
 */
import { ProxmoxError } from './client.js';

/** The fields of `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:`. */
export interface Upid {
  node: string;
  pid: number;
  pstart: number;
  starttime: number;
  type: string;
  id: string;
  user: string;
}

/** What `GET /nodes/{node}/tasks/{upid}/status` answers (the fields waiting needs). */
export interface TaskStatusReply {
  status: string;
  exitstatus?: string;
}

const UPID_PATTERN =
  /^UPID:([a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/;

/** Parses a UPID; undefined when it is not one. */
export function parseUpid(upid: string): Upid | undefined {
  const m = UPID_PATTERN.exec(upid);
  if (!m) return undefined;
  return {
    node: m[1] ?? '',
    pid: parseInt(m[2] ?? '0', 16),
    pstart: parseInt(m[3] ?? '0', 16),
    starttime: parseInt(m[4] ?? '0', 16),
    type: m[5] ?? '',
    id: m[6] ?? '',
    user: m[7] ?? '',
  };
}

/** `OK` and `WARNINGS: n` are success (pve-common's `status_is_error` is false for them). */
export function isTaskSuccess(exitstatus: string): boolean {
  return exitstatus === 'OK' || /^WARNINGS: \d+$/.test(exitstatus);
}

export interface TaskWaitOptions {
  /** The step named in errors, e.g. `create CT 100001`. */
  step: string;
  /** Absolute deadline (ms since epoch) after which waiting fails. */
  deadline: number;
  /** The timeout the deadline came from, for the error text. */
  timeoutSeconds: number;
  /** First poll interval; doubles up to maxIntervalMs. */
  firstIntervalMs?: number;
  maxIntervalMs?: number;
}

/**
 * Polls `readStatus` until the task is `stopped`, then resolves on success or throws
 * ProxmoxError(step, exitstatus). Polling starts fast (50 ms) and doubles to 1 s.
 */
export async function waitForTask(
  upid: string,
  readStatus: (node: string, upid: string) => Promise<TaskStatusReply>,
  options: TaskWaitOptions,
): Promise<void> {
  const parsed = parseUpid(upid);
  if (!parsed) throw new ProxmoxError(options.step, `Proxmox answered with something that is not a task id: ${JSON.stringify(upid.slice(0, 120))}`);
  let interval = options.firstIntervalMs ?? 50;
  const maxInterval = options.maxIntervalMs ?? 1000;
  for (;;) {
    const reply = await readStatus(parsed.node, upid);
    if (reply.status === 'stopped') {
      const exit = reply.exitstatus ?? 'unexpected status';
      if (isTaskSuccess(exit)) return;
      throw new ProxmoxError(options.step, exit);
    }
    const left = options.deadline - Date.now();
    if (left <= 0) throw new ProxmoxError(options.step, `timed out after ${options.timeoutSeconds} s`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(interval, left)));
    interval = Math.min(interval * 2, maxInterval);
  }
}
