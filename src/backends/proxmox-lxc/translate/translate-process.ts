/**
 * OCI `process` -> what the in-CT launcher applies (src/monitor/launch-input.ts: user, groups,
 * umask, the five capability sets, no_new_privs, cwd, env, args), plus the raw `lxc.*` keys for
 * what LXC applies to the container's init (rlimits, the CT's bounding set, the AppArmor
 * profile). The CT's init runs as the CT's root; the launcher switches to process.user.
 */
import type { LaunchCapabilities, LaunchSpec, MonitoredProcess } from '../../../monitor/index.js';
import { joinPointer } from '../../../oci/problems.js';
import type { Capabilities, Process, Rlimit } from '../../../oci/spec.js';
import { Findings } from '../../shared/findings.js';
import { hasControlCharacter } from '../../../proxmox/conf-file.js';
import { capabilityBit, LAUNCHER_CAPABILITIES, lxcCapabilityName } from './linux-capabilities.js';

/** Which Linux security modules the host runs (the backend reads /sys; translation stays pure). */
export interface HostSecurity {
  readonly apparmor: boolean;
  readonly selinux: boolean;
}

export interface ProcessTranslation {
  /** For the rootfs archive's image config (Entrypoint, Env, WorkingDir, User). */
  process: MonitoredProcess;
  /** What the launcher applies, without seccomp (linux.seccomp is added by translate.ts). */
  launch: LaunchSpec;
  rawLxc: Array<[string, string]>;
  /** The CT's bounding set (names): an exec can have no capability outside it. */
  ctCapabilities: string[];
  /** process.rlimits as given: an exec without rlimits of its own gets these (as in runc). */
  rlimits: Rlimit[];
  oomScoreAdj?: number;
}

/** runc's umask when process.user.umask is not set. */
const DEFAULT_UMASK = 0o022;

/** The launcher's exit statuses for the container's process: program not found, anything else. */
const CONTAINER_FAIL_STATUS = { notFound: 127, other: 126 } as const;

/** rlimit names LXC's `lxc.prlimit.<name>` understands (setrlimit(2) without the RLIMIT_ prefix). */
export const RLIMIT_NAMES: ReadonlySet<string> = new Set([
  'as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss',
  'rtprio', 'rttime', 'sigpending', 'stack',
]);

/** RLIM_INFINITY (2^64-1) does not survive JSON parsing exactly; anything this large is unlimited. */
const RLIM_INFINITY_AS_NUMBER = 2 ** 64 - 1;

export function rlimitValue(value: number): string {
  return value >= RLIM_INFINITY_AS_NUMBER ? 'unlimited' : String(value);
}

function translateRlimits(rlimits: readonly Rlimit[], findings: Findings, raw: Array<[string, string]>): void {
  const seen = new Set<string>();
  rlimits.forEach((rlimit, index) => {
    const at = joinPointer('/process/rlimits', index);
    const name = rlimit.type.replace(/^RLIMIT_/, '').toLowerCase();
    if (!rlimit.type.startsWith('RLIMIT_') || !RLIMIT_NAMES.has(name)) {
      findings.refuse(joinPointer(at, 'type'), `unknown rlimit ${JSON.stringify(rlimit.type)}`);
      return;
    }
    if (seen.has(name)) {
      findings.refuse(joinPointer(at, 'type'), `${rlimit.type} is given more than once`);
      return;
    }
    seen.add(name);
    if (rlimit.soft > rlimit.hard) {
      findings.refuse(at, 'soft limit is larger than the hard limit');
      return;
    }
    raw.push([`lxc.prlimit.${name}`, `${rlimitValue(rlimit.soft)}:${rlimitValue(rlimit.hard)}`]);
  });
}

const CAPABILITY_SETS = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const;

/**
 * Every set goes to the launcher exactly (as bit numbers); unknown names are refused. The CT's
 * bounding set (`lxc.cap.keep`, after clearing the `lxc.cap.drop` list Proxmox's common config
 * sets, because LXC refuses both at once) is everything any set names plus what the launcher
 * needs until it drops it (LAUNCHER_CAPABILITIES).
 */
function translateCapabilities(caps: Capabilities | undefined, findings: Findings, raw: Array<[string, string]>): { launch: LaunchCapabilities; keep: string[] } {
  const launch: Record<(typeof CAPABILITY_SETS)[number], number[]> = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };
  const keep = new Set<string>();
  for (const set of CAPABILITY_SETS) {
    (caps?.[set] ?? []).forEach((name, index) => {
      const bit = capabilityBit(name);
      if (bit === undefined) {
        findings.refuse(joinPointer(`/process/capabilities/${set}`, index), `unknown capability ${JSON.stringify(name)}`);
        return;
      }
      launch[set].push(bit);
      keep.add(name);
    });
  }
  for (const name of LAUNCHER_CAPABILITIES) keep.add(name);
  const ordered = [...keep].sort((a, b) => (capabilityBit(a) ?? 0) - (capabilityBit(b) ?? 0));
  raw.push(['lxc.cap.drop', '']);
  raw.push(['lxc.cap.keep', ordered.map(lxcCapabilityName).join(' ')]);
  return { launch, keep: ordered };
}

function checkStrings(values: readonly string[] | undefined, base: string, findings: Findings): void {
  (values ?? []).forEach((value, index) => {
    if (value.includes('\u0000')) findings.refuse(joinPointer(base, index), 'must not contain a NUL character');
  });
}

export function translateProcess(spec: Process | undefined, host: HostSecurity, findings: Findings): ProcessTranslation {
  const raw: Array<[string, string]> = [];
  const noCaps: LaunchCapabilities = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };
  if (spec === undefined) {
    findings.refuse('/process', 'is required: the proxmox-lxc backend runs the process at start');
    const launch: LaunchSpec = { failStatus: CONTAINER_FAIL_STATUS, uid: 0, gid: 0, additionalGids: [], capabilities: noCaps, noNewPrivileges: false, cwd: '/', env: [], args: [] };
    return { process: { cwd: '/' }, launch, rawLxc: raw, ctCapabilities: [], rlimits: [] };
  }
  if ((spec.args ?? []).length === 0) findings.refuse('/process/args', 'must name the program to run');
  else if (spec.args?.[0] === '') findings.refuse('/process/args/0', 'must not be empty');
  checkStrings(spec.args, '/process/args', findings);
  checkStrings(spec.env, '/process/env', findings);
  (spec.env ?? []).forEach((entry, index) => {
    if (entry.indexOf('=') <= 0) findings.refuse(joinPointer('/process/env', index), 'must be NAME=VALUE with a non-empty name');
  });
  if (spec.cwd.includes('\u0000')) findings.refuse('/process/cwd', 'must not contain a NUL character');
  if (spec.terminal === true) findings.refuse('/process/terminal', 'terminal mode is not supported by the proxmox-lxc backend');

  const uid = spec.user?.uid ?? 0;
  const gid = spec.user?.gid ?? 0;
  const additionalGids = spec.user?.additionalGids ?? [];

  translateRlimits(spec.rlimits ?? [], findings, raw);
  const caps = translateCapabilities(spec.capabilities, findings, raw);

  if (spec.apparmorProfile !== undefined && spec.apparmorProfile !== '') {
    if (!host.apparmor) findings.refuse('/process/apparmorProfile', 'AppArmor is not enabled on this host, so the profile cannot be applied (runc fails to apply it the same way)');
    else if (hasControlCharacter(spec.apparmorProfile)) findings.refuse('/process/apparmorProfile', 'must not contain control characters');
    else raw.push(['lxc.apparmor.profile', spec.apparmorProfile]);
  }
  if (spec.selinuxLabel !== undefined && spec.selinuxLabel !== '') {
    if (!host.selinux) findings.refuse('/process/selinuxLabel', 'selinux label is specified in config, but selinux is disabled or not supported');
    else if (hasControlCharacter(spec.selinuxLabel)) findings.refuse('/process/selinuxLabel', 'must not contain control characters');
    else raw.push(['lxc.selinux.context', spec.selinuxLabel]);
  }
  if (spec.ioPriority !== undefined) findings.refuse('/process/ioPriority', 'I/O priority is not supported by the proxmox-lxc backend');
  if (spec.scheduler !== undefined) findings.refuse('/process/scheduler', 'scheduler settings are not supported by the proxmox-lxc backend');
  if (spec.execCPUAffinity !== undefined) findings.refuse('/process/execCPUAffinity', 'CPU affinity is not supported by the proxmox-lxc backend');
  // consoleSize is ignored unless terminal is set (config.md), and terminal is refused above.

  const process: MonitoredProcess = {
    cwd: spec.cwd,
    ...(spec.args !== undefined ? { args: [...spec.args] } : {}),
    ...(spec.env !== undefined ? { env: [...spec.env] } : {}),
    user: additionalGids.length > 0 ? { uid, gid, additionalGids: [...additionalGids] } : { uid, gid },
  };
  const launch: LaunchSpec = {
    failStatus: CONTAINER_FAIL_STATUS,
    uid,
    gid,
    additionalGids: [...additionalGids],
    umask: spec.user?.umask ?? DEFAULT_UMASK,
    capabilities: caps.launch,
    noNewPrivileges: spec.noNewPrivileges === true,
    cwd: spec.cwd,
    env: [...(spec.env ?? [])],
    args: [...(spec.args ?? [])],
  };
  return {
    process,
    launch,
    rawLxc: raw,
    ctCapabilities: caps.keep,
    rlimits: [...(spec.rlimits ?? [])],
    ...(spec.oomScoreAdj !== undefined ? { oomScoreAdj: spec.oomScoreAdj } : {}),
  };
}
