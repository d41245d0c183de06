/**
 * OCI `process` -> the process the monitor's init runs, plus the raw `lxc.*` keys
 * for what LXC applies to the container's init (rlimits, capabilities, LSM labels).
 */
import type { MonitoredProcess } from '../../../monitor/index.js';
import { joinPointer } from '../../../oci/problems.js';
import type { Capabilities, Process, Rlimit } from '../../../oci/spec.js';
import { Findings } from '../../shared/findings.js';
import { hasControlCharacter } from '../../../proxmox/conf-file.js';
import { LINUX_CAPABILITIES, lxcCapabilityName } from './linux-capabilities.js';

export interface ProcessTranslation {
  process: MonitoredProcess;
  rawLxc: Array<[string, string]>;
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
}

/** The umask an init started by lxc-start under systemd has (0022); other values cannot be set. */
const DEFAULT_UMASK = 0o022;

/** rlimit names LXC's `lxc.prlimit.<name>` understands (setrlimit(2) without the RLIMIT_ prefix). */
const RLIMIT_NAMES: ReadonlySet<string> = new Set([
  'as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss',
  'rtprio', 'rttime', 'sigpending', 'stack',
]);

/** RLIM_INFINITY (2^64-1) does not survive JSON parsing exactly; anything this large is unlimited. */
const RLIM_INFINITY_AS_NUMBER = 2 ** 64 - 1;

function rlimitValue(value: number): string {
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

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((item) => right.has(item));
}

/**
 * The bounding set becomes `lxc.cap.keep` (after clearing the `lxc.cap.drop` list Proxmox's common
 * config sets, because LXC refuses both at once). The app gets no capabilities of its own: a root
 * app has its whole bounding set, a non-root app none, and nothing is inherited or ambient.
 */
function translateCapabilities(caps: Capabilities | undefined, uid: number, findings: Findings, raw: Array<[string, string]>): void {
  const bounding = caps?.bounding ?? [];
  let valid = true;
  bounding.forEach((name, index) => {
    if (!LINUX_CAPABILITIES.has(name)) {
      findings.refuse(joinPointer('/process/capabilities/bounding', index), `unknown capability ${JSON.stringify(name)}`);
      valid = false;
    }
  });
  for (const set of ['effective', 'permitted'] as const) {
    const list = caps?.[set];
    if (list === undefined) continue;
    if (uid === 0 && !sameSet(list, bounding)) {
      findings.refuse(`/process/capabilities/${set}`, 'must equal the bounding set: a root process in a proxmox-lxc container holds its whole bounding set');
    } else if (uid !== 0 && list.length > 0) {
      findings.refuse(`/process/capabilities/${set}`, 'must be empty for a non-root user: the proxmox-lxc backend cannot give a non-root process capabilities');
    }
  }
  for (const set of ['inheritable', 'ambient'] as const) {
    if ((caps?.[set] ?? []).length > 0) {
      findings.refuse(`/process/capabilities/${set}`, `${set} capabilities are not supported by the proxmox-lxc backend`);
    }
  }
  if (!valid) return;
  const keep = [...new Set(bounding)].map(lxcCapabilityName);
  raw.push(['lxc.cap.drop', '']);
  raw.push(['lxc.cap.keep', keep.length === 0 ? 'none' : keep.join(' ')]);
}

function checkStrings(values: readonly string[] | undefined, base: string, findings: Findings): void {
  (values ?? []).forEach((value, index) => {
    if (value.includes('\u0000')) findings.refuse(joinPointer(base, index), 'must not contain a NUL character');
  });
}

export function translateProcess(spec: Process | undefined, findings: Findings): ProcessTranslation {
  const raw: Array<[string, string]> = [];
  if (spec === undefined) {
    findings.refuse('/process', 'is required: the proxmox-lxc backend runs the process at start');
    return { process: { cwd: '/' }, rawLxc: raw, noNewPrivileges: false };
  }
  if ((spec.args ?? []).length === 0) findings.refuse('/process/args', 'must name the program to run');
  else if (spec.args?.[0]?.includes('=')) findings.refuse('/process/args/0', 'must not contain "=": the monitor runs the program through env(1), which would read it as a variable');
  checkStrings(spec.args, '/process/args', findings);
  checkStrings(spec.env, '/process/env', findings);
  if (spec.terminal === true) findings.refuse('/process/terminal', 'terminal mode is not supported by the proxmox-lxc backend');

  const uid = spec.user?.uid ?? 0;
  const gid = spec.user?.gid ?? 0;
  const additionalGids = spec.user?.additionalGids ?? [];
  if (spec.user?.umask !== undefined && spec.user.umask !== DEFAULT_UMASK) {
    findings.refuse('/process/user/umask', 'only the default umask 0022 is supported by the proxmox-lxc backend');
  }

  translateRlimits(spec.rlimits ?? [], findings, raw);
  translateCapabilities(spec.capabilities, uid, findings, raw);

  if (spec.apparmorProfile !== undefined && spec.apparmorProfile !== '') {
    if (hasControlCharacter(spec.apparmorProfile)) findings.refuse('/process/apparmorProfile', 'must not contain control characters');
    else raw.push(['lxc.apparmor.profile', spec.apparmorProfile]);
  }
  if (spec.selinuxLabel !== undefined && spec.selinuxLabel !== '') {
    if (hasControlCharacter(spec.selinuxLabel)) findings.refuse('/process/selinuxLabel', 'must not contain control characters');
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
  return {
    process,
    rawLxc: raw,
    noNewPrivileges: spec.noNewPrivileges === true,
    ...(spec.oomScoreAdj !== undefined ? { oomScoreAdj: spec.oomScoreAdj } : {}),
  };
}
