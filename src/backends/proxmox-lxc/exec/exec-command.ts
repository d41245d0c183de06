/**
 * How an exec starts inside a CT: `lxc-attach` (every namespace and the cgroup of the CT, as the
 * CT's root, environment cleared) runs the launcher (/.proxrun/launch --env), which applies the
 * exec's process exactly as runc's setns init does (user, groups, the five capability sets,
 * no_new_privs, cwd, env, and the container's seccomp profile) and execs it. The launcher's input
 * travels in lxc-attach's environment (PROXRUN_LAUNCH_n, kept across --clear-env by name), never
 * on a command line: no other host user and no non-root user of the CT can read the exec's env.
 * What runc sets from the host, proxrun sets from the host too: the container's oomScoreAdj with
 * `choom`, and the hard rlimits with util-linux `prlimit` (both exec lxc-attach in place).
 * lxc-attach then puts the container's own lxc.prlimit values on the exec inside the CT, where a
 * hard limit can only be lowered; so the host raises each hard limit to the larger of the exec's
 * and the container's first, and the launcher sets the exec's exact values last. A hard limit above
 * the container's own is refused (the CT's root cannot raise it after lxc-attach lowered it).
 * Pure: it only builds argv and environment.
 */
import { IN_CONTAINER_DIR, launchEnvironment, renderLaunchInput, type LaunchRlimit, type LaunchSpec } from '../../../monitor/index.js';
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

/** RLIMIT_* numbers (asm-generic/resource.h, as on x86_64 and arm64). */
const RLIMIT_NUMBERS: Readonly<Record<string, number>> = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9, locks: 10,
  sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
};
const RLIM_INFINITY = 0xffffffffffffffffn;

function rlimitName(rlimit: Rlimit): string {
  const name = rlimit.type.replace(/^RLIMIT_/, '').toLowerCase();
  if (!rlimit.type.startsWith('RLIMIT_') || !RLIMIT_NAMES.has(name)) throw errUnsupported(`exec: process.rlimits: unknown rlimit ${JSON.stringify(rlimit.type)}`);
  return name;
}

function rlimitBig(value: number): bigint {
  return value >= 2 ** 64 - 1 ? RLIM_INFINITY : BigInt(Math.trunc(value));
}

/** The exec's rlimits (its own, else the container's, as runc): what the host and the launcher set. */
function execRlimits(proc: ExecProcess, container: ProcessOptions): { host: string[]; launch: LaunchRlimit[] } {
  const wanted = proc.rlimits.length > 0 ? proc.rlimits : container.rlimits;
  const containerHard = new Map(container.rlimits.map((r) => [rlimitName(r), rlimitBig(r.hard)]));
  const host: string[] = [];
  const launch: LaunchRlimit[] = [];
  for (const rlimit of wanted) {
    const name = rlimitName(rlimit);
    const soft = rlimitBig(rlimit.soft);
    const hard = rlimitBig(rlimit.hard);
    if (soft > hard) throw errUnsupported(`exec: process.rlimits: ${rlimit.type}: soft limit is larger than the hard limit`);
    const ceiling = containerHard.get(name);
    if (ceiling !== undefined && hard > ceiling) {
      throw errUnsupported(`exec: process.rlimits: ${rlimit.type} hard limit ${rlimitValue(rlimit.hard)} is above the container's (${ceiling === RLIM_INFINITY ? 'unlimited' : ceiling}): lxc-attach gives the exec the container's limits inside the CT, where a hard limit can only be lowered`);
    }
    const top = ceiling !== undefined && ceiling > hard ? ceiling : hard;
    const text = top === RLIM_INFINITY ? 'unlimited' : top.toString(10);
    host.push(`--${name}=${text}:${text}`);
    launch.push({ resource: RLIMIT_NUMBERS[name] ?? -1, soft, hard });
  }
  return { host, launch };
}

/** The launcher's input for an exec; throws naming a capability the CT does not hold. */
export function execLaunchSpec(proc: ExecProcess, container: ProcessOptions, rlimits: readonly LaunchRlimit[] = []): LaunchSpec {
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
    ...(rlimits.length > 0 ? { rlimits } : {}),
    cwd: proc.cwd,
    env: proc.env,
    args: proc.args,
    ...(seccomp !== undefined ? { seccomp } : {}),
  };
}

export function execCommand(lxcPath: string, vmid: number, proc: ExecProcess, container: ProcessOptions, pathEnv: string): ExecCommand {
  const rlimits = execRlimits(proc, container);
  const launchEnv = launchEnvironment(renderLaunchInput(execLaunchSpec(proc, container, rlimits.launch)));
  const oom = container.oomScoreAdj;
  const argv = [
    ...(rlimits.host.length > 0 ? ['prlimit', ...rlimits.host] : []),
    ...(oom !== undefined ? ['choom', '-n', String(oom), '--'] : []),
    'lxc-attach', '-n', String(vmid), '-P', lxcPath, '--clear-env',
    ...Object.keys(launchEnv).flatMap((name) => ['--keep-var', name]),
    '-u', '0', '-g', '0',
    '--', LAUNCHER, '--env',
  ];
  return { argv, env: { PATH: pathEnv, ...launchEnv } };
}
