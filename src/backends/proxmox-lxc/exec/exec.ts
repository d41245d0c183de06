/**
 * `exec` on a running CT through lxc-attach on this node (the command: exec-command.ts). Non-detached: lxc-attach shares
 * proxrun's stdio and proxrun resolves to its status (128+N when it died of signal N).
 * `--detach --pid-file`: a stand-in (exec-standin.ts) runs lxc-attach, in a session of its own
 * with proxrun's fds 0/1/2 only (the shim's or conmon's pipes). Its pid goes into the pid file
 * once the exec'd process exists in the CT; when proxrun exits it is reparented to the shim,
 * which signals it (forwarded to the exec'd process) and reaps it with the exec's status.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { DEFAULT_HOST_BUSYBOX } from '../../../monitor/index.js';
import { ensureTrustedDir, PRIVATE_RUN_DIR } from '../../../proxmox/private-dir.js';
import { RuntimeError } from '../../../runtime/errors.js';
import type { ExecCommand } from './exec-command.js';
import { renderExecStandin, STANDIN_READY_FD } from './exec-standin.js';
import { writePidFile } from '../../../runtime/pid-file.js';

/** Where stand-ins make their watcher FIFO for an instant (removed as soon as both ends are open); outside every state root. */
export const EXEC_RUN_DIR = PRIVATE_RUN_DIR;
/** coreutils env: its --default-signal gives the exec default dispositions (busybox env has none). */
const HOST_ENV = '/usr/bin/env';
const READY_TIMEOUT_MS = 30_000;

/** What runc exits with when exec itself fails (as opposed to the program). */
export const EXEC_RUNTIME_FAILURE = 255;


function statusOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal === null ? undefined : osConstants.signals[signal];
  return n === undefined ? EXEC_RUNTIME_FAILURE : 128 + n;
}

/**
 * runc's fixStdioPermissions, done from the host: each of fds 0-2 that is not /dev/null and not
 * the user's already is given to `uid` (its group kept), so the exec's user can open
 * /proc/self/fd/N again, as under runc. Inside an unprivileged CT the launcher cannot do it (the
 * caller's pipes belong to an unmapped host user), so the host does it with the mapped uid.
 * Errors are ignored as runc ignores them (EINVAL, EPERM, EROFS).
 */
export function handStdioTo(uid: number): void {
  let nullDev: number | undefined;
  try {
    nullDev = fs.statSync('/dev/null').rdev;
  } catch {
    return;
  }
  for (const fd of [0, 1, 2]) {
    try {
      const st = fs.fstatSync(fd);
      if (st.uid === uid || st.rdev === nullDev) continue;
      fs.fchownSync(fd, uid, st.gid);
    } catch {
      // not ours to change
    }
  }
}

/** Runs the exec in the foreground; resolves to its exit status. */
export function execAttached(command: ExecCommand): Promise<number> {
  const [file = 'lxc-attach', ...args] = command.argv;
  const child = spawn(file, args, { stdio: 'inherit', env: { ...command.env } });
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new RuntimeError('Backend', `exec: cannot run lxc-attach: ${err.message}`, EXEC_RUNTIME_FAILURE)));
    child.once('exit', (code, signal) => resolve(statusOf(code, signal)));
  });
}

function readyLine(stream: Readable, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const done = (): void => {
      clearTimeout(timer);
      stream.removeAllListeners('data');
      resolve(text);
    };
    const timer = setTimeout(done, timeoutMs);
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('\n')) done();
    });
    stream.once('end', done);
    stream.once('error', done);
  });
}

/**
 * Starts the exec detached under its stand-in and writes the stand-in's pid to `pidFile` (if
 * given) once the exec'd process runs in the CT (or already ended: the stand-in then holds its
 * status for the reaper).
 */
export async function execDetached(command: ExecCommand, pidFile: string | undefined): Promise<void> {
  ensureTrustedDir(EXEC_RUN_DIR);
  // The launcher's input is in the environment, which only root can read (/proc/PID/environ).
  const child = spawn(
    DEFAULT_HOST_BUSYBOX,
    ['sh', '-c', renderExecStandin(), 'proxrun-exec', DEFAULT_HOST_BUSYBOX, HOST_ENV, EXEC_RUN_DIR, ...command.argv],
    { stdio: ['inherit', 'inherit', 'inherit', 'pipe'], detached: true, env: { ...command.env } },
  );
  const ready = child.stdio[STANDIN_READY_FD] as Socket | null;
  const started = await new Promise<number>((resolve, reject) => {
    child.once('error', (err) => reject(new RuntimeError('Backend', `exec: cannot start the exec stand-in: ${err.message}`, EXEC_RUNTIME_FAILURE)));
    child.once('spawn', () => resolve(child.pid ?? 0));
  });
  const line = ready === null ? '' : await readyLine(ready, READY_TIMEOUT_MS);
  // Kept open (but not keeping proxrun alive): the stand-in waits for it to close when proxrun exits.
  ready?.pause();
  ready?.unref();
  if (line !== 'ready\n') {
    try {
      process.kill(started, 'SIGKILL');
    } catch {
      // already gone
    }
    throw new RuntimeError('Backend', `exec: the exec stand-in did not report the exec running within ${READY_TIMEOUT_MS / 1000} s`, EXEC_RUNTIME_FAILURE);
  }
  child.unref();
  if (pidFile !== undefined && pidFile !== '') await writePidFile(pidFile, started);
}
