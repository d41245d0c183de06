/**
 * The `lxc-attach` command line that runs an exec inside a CT: attached to every namespace and
 * the CT's cgroup, with the environment cleared, as `uid:gid`. Inside, the monitor's busybox
 * (bind-mounted at /.proxrun) enters the working directory and starts the program with exactly
 * the exec's environment (`env -i`), optionally under `setpriv --nnp`. lxc-attach itself exits
 * with the program's status, so it can stand for the exec (the pid a shim reaps).
 */
import { IN_CONTAINER_DIR } from '../../../monitor/index.js';
import type { ExecProcess } from './exec-process.js';

/** Exit status of the wrapper when the working directory cannot be entered (a runtime failure). */
export const EXEC_CWD_FAILURE = 255;

const BUSYBOX = `${IN_CONTAINER_DIR}/busybox`;

const ENTER_CWD = `cd -- "$1" 2>/dev/null || { echo "proxrun exec: cannot enter working directory $1" >&2; exit ${EXEC_CWD_FAILURE}; }; shift; exec "$@"`;

export function lxcAttachArgs(lxcPath: string, vmid: number, proc: ExecProcess): string[] {
  const program = [BUSYBOX, 'env', '-i', ...proc.env, ...proc.args];
  return [
    '-n', String(vmid), '-P', lxcPath, '--clear-env',
    '-u', String(proc.uid), '-g', String(proc.gid),
    '--',
    BUSYBOX, 'sh', '-c', ENTER_CWD, 'proxrun-exec', proc.cwd,
    ...(proc.noNewPrivileges ? [BUSYBOX, 'setpriv', '--nnp'] : []),
    ...program,
  ];
}
