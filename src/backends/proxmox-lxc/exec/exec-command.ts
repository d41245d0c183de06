/**
 * How an exec starts inside a CT: `lxc-attach` (every namespace and the cgroup of the CT, as the
 * CT's root, environment cleared) runs the launcher (/.proxrun/launch --env), which applies the
 * exec's process exactly as runc's setns init does (user, groups, the five capability sets,
 * no_new_privs, cwd, env, and the container's seccomp profile) and execs it. The launcher's input
 * travels in lxc-attach's environment (PROXRUN_LAUNCH_n, kept across --clear-env by name), never
 * on a command line: no other host user and no non-root user of the CT can read the exec's env.
 * What runc sets from the host, proxrun sets from the host too: the rlimits with util-linux
 * `prlimit` and the container's oomScoreAdj with `choom`, both of which exec lxc-attach in place.
 * Pure: it only builds argv and environment.
 */
import { IN_CONTAINER_DIR, launchEnvironment, renderLaunchInput, type LaunchSpec } from '../../../monitor/index.js';
import type { Rlimit } from '../../../oci/spec.js';
import { errUnsupported } from '../../../runtime/errors.js';
import type { ExecProcess } from './exec-process.js';
import { capabilityBit } from '../translate/linux-capabilities.js';
import type { ProcessOptions } from '../process-options.js';
import { Findings } from '../../shared/findings.js';
import { RLIMIT_NAMES, rlimitValue } from '../translate/translate-process.js';
import { translateSeccomp } from '../translate/translate-seccomp.js';

/** runc exec exits 255 when it cannot start the process (any launch failure, a missing program too). */
export const EXEC_LAUNCH_FAILURE = 255;

const LAUNCHER = `${IN_CONTAINER_DIR}/launch`;

export interface ExecCommand {
  /** The host command: [prlimit ...] [choom ...] lxc-attach ... -- /.proxrun/launch --env */
  readonly argv: readonly string[];
  /** Environment for that command: the launcher's input, and PATH to find the tools. */
  readonly env: Readonly<Record<string, string>>;
}

function bits(names: readonly string[]): number[] {
  return names.map((name) => capabilityBit(name) ?? -1).filter((bit) => bit >= 0);
}

/** The launcher's input for an exec; throws naming a capability the CT does not hold. */
export function execLaunchSpec(proc: ExecProcess, container: ProcessOptions): LaunchSpec {
  const held = new Set(container.ctCapabilities);
  for (const [set, names] of Object.entries(proc.capabilities) as Array<[string, readonly string[]]>) {
    const missing = names.filter((name) => !held.has(name));
    if (missing.length > 0 && set !== 'inheritable') {
      throw errUnsupported(`exec: process.capabilities.${set}: ${missing.join(', ')} outside the container's bounding set (an exec enters the CT with the container's capabilities at most)`);
    }
  }
  const seccomp = translateSeccomp(container.seccomp, new Findings(true));
  return {
    failStatus: { notFound: EXEC_LAUNCH_FAILURE, other: EXEC_LAUNCH_FAILURE },
    uid: proc.uid,
    gid: proc.gid,
    additionalGids: proc.additionalGids,
    capabilities: {
      bounding: bits(proc.capabilities.bounding),
      effective: bits(proc.capabilities.effective),
      inheritable: bits(proc.capabilities.inheritable),
      permitted: bits(proc.capabilities.permitted),
      ambient: bits(proc.capabilities.ambient),
    },
    noNewPrivileges: proc.noNewPrivileges,
    cwd: proc.cwd,
    env: proc.env,
    args: proc.args,
    ...(seccomp !== undefined ? { seccomp } : {}),
  };
}

function prlimitArgs(rlimits: readonly Rlimit[]): string[] {
  const args: string[] = [];
  for (const rlimit of rlimits) {
    const name = rlimit.type.replace(/^RLIMIT_/, '').toLowerCase();
    if (!rlimit.type.startsWith('RLIMIT_') || !RLIMIT_NAMES.has(name)) throw errUnsupported(`exec: process.rlimits: unknown rlimit ${JSON.stringify(rlimit.type)}`);
    if (!(rlimit.soft <= rlimit.hard)) throw errUnsupported(`exec: process.rlimits: ${rlimit.type}: soft limit is larger than the hard limit`);
    args.push(`--${name}=${rlimitValue(rlimit.soft)}:${rlimitValue(rlimit.hard)}`);
  }
  return args;
}

export function execCommand(lxcPath: string, vmid: number, proc: ExecProcess, container: ProcessOptions, pathEnv: string): ExecCommand {
  const launchEnv = launchEnvironment(renderLaunchInput(execLaunchSpec(proc, container)));
  const rlimits = prlimitArgs(proc.rlimits.length > 0 ? proc.rlimits : container.rlimits);
  const oom = container.oomScoreAdj;
  const argv = [
    ...(rlimits.length > 0 ? ['prlimit', ...rlimits] : []),
    ...(oom !== undefined ? ['choom', '-n', String(oom), '--'] : []),
    'lxc-attach', '-n', String(vmid), '-P', lxcPath, '--clear-env',
    ...Object.keys(launchEnv).flatMap((name) => ['--keep-var', name]),
    '-u', '0', '-g', '0',
    '--', LAUNCHER, '--env',
  ];
  return { argv, env: { PATH: pathEnv, ...launchEnv } };
}
