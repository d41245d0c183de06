/**
 * Processes on this host named by pid and start time (`/proc/PID/stat` field 22, clock ticks
 * since boot), so that a pid the kernel has given to another process since is never mistaken for
 * the one recorded: whether it still runs, and stopping it (SIGTERM, a grace period, SIGKILL)
 * when it is not a child of the caller (it cannot be waited for, only watched).
 */
import { readFileSync } from 'node:fs';

/** The start time of `pid`, or undefined when there is no such (live or zombie) process. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces and parentheses) start at the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTime = Number(fields[19]);
  return Number.isInteger(startTime) ? startTime : undefined;
}

/** Whether the process recorded as (`pid`, `startTime`) still runs (a zombie counts as ended). */
export function isRunning(pid: number, startTime: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] !== 'Z' && Number(fields[19]) === startTime;
}

async function ended(pid: number, startTime: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid, startTime)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/**
 * Ends the recorded process: SIGTERM, up to `graceMs` for it to go, then SIGKILL and up to 10 s.
 * Resolves once it has gone; rejects when even SIGKILL did not end it (a process in D state).
 */
export async function stopProcess(pid: number, startTime: number, graceMs: number): Promise<void> {
  for (const [signal, waitMs] of [['SIGTERM', graceMs], ['SIGKILL', 10_000]] as const) {
    if (!isRunning(pid, startTime)) return;
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    if (await ended(pid, startTime, waitMs)) return;
  }
  throw new Error(`process ${pid} did not end after SIGKILL`);
}
