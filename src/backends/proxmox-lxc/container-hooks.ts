/**
 * The two OCI hook kinds that run inside the CT rather than on the host.
 *
 * createContainer (during `create`, after createRuntime): the path resolves in
 * the runtime namespace but the hook runs in the container's namespaces. runc
 * gets this by running the hook from the container's init after its mounts
 * and before pivot_root, with the host's root still in place and the working
 * directory at the container's rootfs. Here the CT has already pivoted, so
 * `nsenter --target INIT --all` joins every namespace of the CT's init (user
 * too when the CT is unprivileged) and `--root=/ --wd=/proc/INIT/root`, both
 * opened before the joins, put the host's root back and the working
 * directory at the CT's root: the same picture as runc's. The hook's own
 * dynamic libraries and interpreter come from the host, which copying the
 * binary into the CT or passing it by fd could not give.
 *
 * startContainer (during `start`, before the app is released): resolves and
 * runs inside the CT: `lxc-attach` (every namespace, the CT's cgroup, its
 * capability drops and LSM profile) as the CT's root.
 *
 * Either way the program is started through the monitor's busybox, so that
 * it gets exactly the hook's `env` (`env -i`) and, when `args[0]` differs
 * from `path`, that argv[0] (busybox sh `exec -a`). The state JSON is on
 * stdin; `timeout` kills the launcher's process group.
 */
import { readFile } from 'node:fs/promises';
import { IN_CONTAINER_DIR, monitorPaths, quoteShellWord } from '../../monitor/index.js';
import { runHookProcess } from '../shared/hooks.js';
import type { Hook, Spec } from '../../oci/spec.js';

/** Variables busybox sh adds or changes at startup; the argv[0] wrapper puts them back as the hook has them. */
const SHELL_SET_VARIABLES = ['SHLVL', 'PWD', 'PATH'] as const;

/** The hook's env as NAME=VALUE words (an entry with no `=` is an empty variable, as on the host). */
function envWords(hook: Hook): string[] {
  return (hook.env ?? []).map((entry) => (entry.includes('=') ? entry : `${entry}=`));
}

/**
 * The command that starts a hook through a busybox: `env -i ENV... PATH ARGS...`, or, when
 * argv[0] must differ from the path (or the path holds `=`, which env would take for a
 * variable), through `sh -c 'exec -a "$0" "$@"'` with the shell's own variables restored.
 */
export function hookProgram(busybox: string, hook: Hook): string[] {
  const args = hook.args ?? [hook.path];
  const argv0 = args[0] ?? hook.path;
  const env = envWords(hook);
  if (argv0 === hook.path && !hook.path.includes('=')) return [busybox, 'env', '-i', ...env, hook.path, ...args.slice(1)];
  const values = new Map(env.map((word) => [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]));
  const restore = SHELL_SET_VARIABLES.map((name) => {
    const value = values.get(name);
    return value === undefined ? `unset ${name}` : `export ${name}=${quoteShellWord(value)}`;
  });
  const script = `${restore.join('; ')}; exec -a "$0" "$@"`;
  return [busybox, 'env', '-i', ...env, busybox, 'sh', '-c', script, argv0, hook.path, ...args.slice(1)];
}

/** The launcher for a createContainer hook: the CT init's namespaces, the host's root, the CT's root as cwd. */
export function createContainerCommand(initPid: number, monitorDir: string, hook: Hook): string[] {
  return [
    'nsenter', '--target', String(initPid), '--all', '--root=/', `--wd=/proc/${initPid}/root`, '--',
    ...hookProgram(monitorPaths(monitorDir).sharedFile('busybox'), hook),
  ];
}

/** The launcher for a startContainer hook: lxc-attach into the CT as its root, the program found in the CT. */
export function startContainerCommand(lxcPath: string, vmid: number, hook: Hook): string[] {
  return ['lxc-attach', '-n', String(vmid), '-P', lxcPath, '--clear-env', '--', ...hookProgram(`${IN_CONTAINER_DIR}/busybox`, hook)];
}

export interface CreateContainerTarget {
  /** The CT init's host pid. */
  readonly initPid: number;
  readonly monitorDir: string;
}

export async function runCreateContainerHooks(hooks: readonly Hook[] | undefined, target: CreateContainerTarget, stateJson: string): Promise<void> {
  for (const [index, hook] of (hooks ?? []).entries()) {
    await runLauncher(`createContainer[${index}] ${hook.path}`, hook, createContainerCommand(target.initPid, target.monitorDir, hook), stateJson);
  }
}

export interface StartContainerTarget {
  readonly lxcPath: string;
  readonly vmid: number;
}

export async function runStartContainerHooks(hooks: readonly Hook[] | undefined, target: StartContainerTarget, stateJson: string): Promise<void> {
  for (const [index, hook] of (hooks ?? []).entries()) {
    await runLauncher(`startContainer[${index}] ${hook.path}`, hook, startContainerCommand(target.lxcPath, target.vmid, hook), stateJson);
  }
}

/** A process's pid in its own (innermost) pid namespace, from the NSpid line of its status. */
export async function pidInOwnNamespace(hostPid: number): Promise<number> {
  const status = await readFile(`/proc/${hostPid}/status`, 'utf8');
  const line = /^NSpid:\s*(.*)$/m.exec(status)?.[1];
  const last = line?.trim().split(/\s+/).at(-1);
  const pid = last === undefined ? Number.NaN : Number.parseInt(last, 10);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no NSpid for process ${hostPid}`);
  return pid;
}

const START_HOOKS_KEY = 'startContainerHooks';

/** The backend-data entry that keeps the startContainer hooks from `create` to `start`. */
export function startContainerHooksEntry(spec: Spec): Record<string, Hook[]> {
  const hooks = spec.hooks?.startContainer ?? [];
  return hooks.length === 0 ? {} : { [START_HOOKS_KEY]: hooks };
}

export function startContainerHooksOf(backendData: Record<string, unknown>): Hook[] {
  const raw = backendData[START_HOOKS_KEY];
  return Array.isArray(raw) ? (raw as Hook[]) : [];
}

/** Runs one launcher command line; rejects with one line naming the hook on failure or timeout. */
function runLauncher(label: string, hook: Hook, command: readonly string[], stateJson: string): Promise<void> {
  const [program, ...rest] = command;
  if (program === undefined) return Promise.reject(new Error(`hook ${label}: empty command`));
  return runHookProcess(label, hook.timeout, { file: program, args: rest }, stateJson);
}
