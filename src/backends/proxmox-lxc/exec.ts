/**
 * `exec` on a running CT through lxc-attach on this node. Non-detached: lxc-attach shares
 * proxrun's stdio and proxrun resolves to its status (128+N when it died of signal N).
 * `--detach --pid-file`: lxc-attach is started in a session of its own with proxrun's fds 0/1/2
 * only (the shim's pipes); its pid goes into the pid file, and when proxrun exits it is
 * reparented to the shim, which reaps it with the exec's status.
 */
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { RuntimeError } from '../../runtime/errors.js';
import { lxcAttachArgs } from './exec-command.js';
import type { ExecProcess } from './exec-process.js';
import { writePidFile } from '../../runtime/pid-file.js';

/** What runc exits with when exec itself fails (as opposed to the program). */
export const EXEC_RUNTIME_FAILURE = 255;

export interface ExecTarget {
  readonly lxcPath: string;
  readonly vmid: number;
}

function statusOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal === null ? undefined : osConstants.signals[signal];
  return n === undefined ? EXEC_RUNTIME_FAILURE : 128 + n;
}

/** Runs the exec in the foreground; resolves to its exit status. */
export function execAttached(target: ExecTarget, proc: ExecProcess): Promise<number> {
  const child = spawn('lxc-attach', lxcAttachArgs(target.lxcPath, target.vmid, proc), { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new RuntimeError('Backend', `exec: cannot run lxc-attach: ${err.message}`, EXEC_RUNTIME_FAILURE)));
    child.once('exit', (code, signal) => resolve(statusOf(code, signal)));
  });
}

/** Starts the exec detached and writes lxc-attach's pid to `pidFile` (if given) once it runs. */
export async function execDetached(target: ExecTarget, proc: ExecProcess, pidFile: string | undefined): Promise<void> {
  const child = spawn('lxc-attach', lxcAttachArgs(target.lxcPath, target.vmid, proc), { stdio: 'inherit', detached: true });
  const started = await new Promise<number>((resolve, reject) => {
    child.once('error', (err) => reject(new RuntimeError('Backend', `exec: cannot run lxc-attach: ${err.message}`, EXEC_RUNTIME_FAILURE)));
    child.once('spawn', () => resolve(child.pid ?? 0));
  });
  child.unref();
  if (pidFile !== undefined && pidFile !== '') await writePidFile(pidFile, started);
}
