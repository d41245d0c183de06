/**
 * Signals to a container's monitor, checking first that the pid still is that
 * monitor (its command line names the monitor folder), so a reused pid is
 * never signalled.
 */
import { readFile } from 'node:fs/promises';

export async function isMonitorAlive(pid: number, monitorDir: string): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && cmdline.split('\0').includes(monitorDir);
  } catch {
    return false;
  }
}

/** Sends `signal` to the monitor; false when it is gone. */
export async function signalMonitor(pid: number, monitorDir: string, signal: number): Promise<boolean> {
  if (!(await isMonitorAlive(pid, monitorDir))) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs the monitor's whole process group (its relays); the monitor leads it (setsid). */
export async function killMonitorGroup(pid: number, monitorDir: string): Promise<void> {
  if (!(await isMonitorAlive(pid, monitorDir))) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
