/**
 * Starts the host monitor for a container whose init is already RUNNING. The
 * monitor reports ready once its relays and traps are in place and the init
 * said it waits at its start gate (its traps set, the start FIFO open), so a
 * `start` or a signal right after create always finds the init there, however
 * slowly a busy node ran it up to the gate. The monitor is a direct child of this process,
 * in a session of its own (setsid), with this process's fds 0, 1, 2 and no
 * other: when this process exits it is reparented to the nearest subreaper
 * (containerd's shim, conmon), which then reaps it with the container's status.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { monitorPaths } from './layout.js';
import { DEFAULT_HOST_BUSYBOX } from './prepare.js';
import { unreachableCtReason } from './reachability.js';

export interface SpawnMonitorOptions {
  readonly dir: string;
  /** The LXC container name (on Proxmox: the VMID). */
  readonly name: string;
  readonly lxcPath: string;
  readonly busybox?: string;
  readonly lxcInfo?: string;
  /**
   * A deadline for the monitor to report ready, which includes the init reaching its gate;
   * default 60 s (generous: it is there in milliseconds on an idle machine).
   */
  readonly readyTimeoutMs?: number;
  /** Told the monitor's pid as soon as it runs, before the wait for ready (so the caller can record it). */
  readonly onSpawned?: (pid: number) => void;
}

const POLL_MS = 10;
const DEFAULT_READY_TIMEOUT_MS = 60_000;

async function readReadyPid(file: string): Promise<number | undefined> {
  try {
    const text = await readFile(file, 'utf8');
    const pid = Number.parseInt(text.trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Returns the monitor's pid (for --pid-file) once its relays and traps are in place and the init waits at its gate. */
export async function spawnMonitor(options: SpawnMonitorOptions): Promise<number> {
  const busybox = options.busybox ?? DEFAULT_HOST_BUSYBOX;
  const paths = monitorPaths(options.dir);
  const child = spawn(
    busybox,
    ['sh', paths.monitorScript, options.dir, options.name, options.lxcPath, busybox, options.lxcInfo ?? 'lxc-info'],
    { detached: true, stdio: 'inherit' },
  );
  const pid = child.pid;
  if (pid !== undefined) options.onSpawned?.(pid);
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = signal === null ? `exit status ${code ?? 'unknown'}` : `signal ${signal}`;
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  let failure: Error | undefined;
  void spawnError.then((err) => {
    failure = err;
  });
  child.unref();

  const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (failure !== undefined) throw new Error(`cannot start the container monitor: ${failure.message}`);
    if (exited !== undefined) {
      // The usual cause: the CT runs in another network namespace, where LXC's tools cannot see it.
      const unreachable = await unreachableCtReason(options.name, options.lxcPath);
      throw new Error(unreachable ?? `the container monitor ended before it was ready (${exited})`);
    }
    if (pid !== undefined && (await readReadyPid(paths.readyFile)) === pid) return pid;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  if (pid !== undefined) {
    // Its relays too: the monitor leads a process group of its own.
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  throw new Error(`the container monitor did not become ready within ${Math.round(timeoutMs / 1000)} s (it waits for the container's init to reach its start gate)`);
}
