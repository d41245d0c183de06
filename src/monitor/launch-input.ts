/**
 * The input of the in-container launcher (native/, `proxrun-launch`): what it needs to start a
 * process exactly as runc's init would, already resolved so the C side parses no JSON and knows
 * no OCI names. Pure: rendering only. The format is lines of space-separated words; strings are
 * percent-encoded so that a newline, a space or any byte stays one word; numbers are decimal
 * (ids, statuses), octal (umask) or hexadecimal (capability masks, seccomp actions).
 *
 * The container's input is a file only the CT's root can read; an exec's travels in
 * lxc-attach's environment as PROXRUN_LAUNCH_0, _1, ... (each below the kernel's 128 KiB limit
 * of one environment string). Neither is ever on a command line.
 */

export interface LaunchCondition {
  readonly index: number;
  /** libseccomp's `enum scmp_compare` (SCMP_CMP_NE = 1 ... SCMP_CMP_MASKED_EQ = 7). */
  readonly op: number;
  readonly value: bigint;
  readonly valueTwo: bigint;
}

export interface LaunchSeccompRule {
  readonly name: string;
  /** libseccomp's action value, errno included (SCMP_ACT_ERRNO(1) = 0x50001). */
  readonly action: number;
  readonly conditions: readonly LaunchCondition[];
}

export interface LaunchSeccomp {
  readonly defaultAction: number;
  /** Put runc's -ENOSYS stub in front of the filter (runc's patchbpf.generatePatch decides). */
  readonly enosysStub: boolean;
  /** SECCOMP_FILTER_FLAG_* bits for seccomp(2); 0 loads with prctl(2). */
  readonly flags: number;
  /** libseccomp's architecture names (x86_64, x32, aarch64, ...). */
  readonly architectures: readonly string[];
  /** One per syscall name, in the profile's order. */
  readonly rules: readonly LaunchSeccompRule[];
}

/** Capability sets as bit numbers (CAP_CHOWN = 0 ... CAP_CHECKPOINT_RESTORE = 40). */
export interface LaunchCapabilities {
  readonly bounding: readonly number[];
  readonly effective: readonly number[];
  readonly inheritable: readonly number[];
  readonly permitted: readonly number[];
  readonly ambient: readonly number[];
}

/** One setrlimit(2): RLIMIT_* number and values (RLIM_INFINITY is 2^64 - 1). */
export interface LaunchRlimit {
  readonly resource: number;
  readonly soft: bigint;
  readonly hard: bigint;
}

export interface LaunchSpec {
  /** Exit statuses when the launch fails: program not found, anything else. */
  readonly failStatus: { readonly notFound: number; readonly other: number };
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids: readonly number[];
  /** Set for the container's process (runc's init); an exec keeps the umask it inherits. */
  readonly umask?: number;
  /**
   * Set first of all (an exec: lxc-attach has just put the container's limits on it; the host
   * raised the hard limits beforehand so that these are only ever lowered here).
   */
  readonly rlimits?: readonly LaunchRlimit[];
  readonly capabilities: LaunchCapabilities;
  readonly noNewPrivileges: boolean;
  readonly cwd: string;
  readonly env: readonly string[];
  readonly args: readonly string[];
  readonly seccomp?: LaunchSeccomp;
}

/** Environment variables an exec's input travels in: PREFIX0, PREFIX1, ... */
export const LAUNCH_ENV_PREFIX = 'PROXRUN_LAUNCH_';
/** Below MAX_ARG_STRLEN (32 pages = 128 KiB) with room for the name. */
const ENV_CHUNK = 100_000;

/** Percent-encodes every byte that is not printable ASCII, plus space and '%'. */
export function encodeWord(word: string): string {
  let out = '';
  for (const byte of Buffer.from(word, 'utf8')) {
    if (byte <= 0x20 || byte >= 0x7f || byte === 0x25) out += `%${byte.toString(16).padStart(2, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return out;
}

function mask(bits: readonly number[]): string {
  let value = 0n;
  for (const bit of bits) {
    if (!Number.isInteger(bit) || bit < 0 || bit > 63) throw new Error(`capability bit ${bit} is out of range`);
    value |= 1n << BigInt(bit);
  }
  return value.toString(16);
}

function checkId(value: number, what: string): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xfffffffe) throw new Error(`${what} ${value} is not a valid id`);
  return String(value);
}

function hex32(value: number, what: string): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`${what} ${value} is not a 32-bit value`);
  return value.toString(16);
}

function checkString(value: string, what: string): void {
  if (value.includes('\u0000')) throw new Error(`${what} must not contain a NUL character`);
}

function seccompLines(seccomp: LaunchSeccomp): string[] {
  const lines = [`seccomp default ${hex32(seccomp.defaultAction, 'seccomp default action')}`];
  if (seccomp.enosysStub) lines.push('seccomp enosys-stub');
  if (seccomp.flags !== 0) lines.push(`seccomp flags ${seccomp.flags}`);
  for (const arch of seccomp.architectures) lines.push(`seccomp arch ${encodeWord(arch)}`);
  for (const rule of seccomp.rules) {
    if (rule.name === '') throw new Error('a seccomp rule needs a syscall name');
    checkString(rule.name, 'a syscall name');
    const words = ['seccomp', 'rule', encodeWord(rule.name), hex32(rule.action, `seccomp action of ${rule.name}`)];
    for (const c of rule.conditions) {
      if (!Number.isInteger(c.index) || c.index < 0 || c.index > 5) throw new Error(`seccomp argument index ${c.index} is out of range`);
      if (!Number.isInteger(c.op) || c.op < 1 || c.op > 7) throw new Error(`seccomp operator ${c.op} is out of range`);
      for (const v of [c.value, c.valueTwo]) if (v < 0n || v > 0xffffffffffffffffn) throw new Error(`seccomp value ${v} is not a uint64`);
      words.push(String(c.index), String(c.op), c.value.toString(10), c.valueTwo.toString(10));
    }
    lines.push(words.join(' '));
  }
  return lines;
}

/** The launcher's input as text (one trailing newline). Throws on a value the format cannot hold. */
export function renderLaunchInput(spec: LaunchSpec): string {
  if (spec.args.length === 0 || spec.args[0] === '') throw new Error('the launch needs a program (args[0])');
  if (!spec.cwd.startsWith('/')) throw new Error(`the working directory must be absolute: ${JSON.stringify(spec.cwd)}`);
  for (const word of [...spec.args, ...spec.env, spec.cwd]) checkString(word, 'args, env and cwd');
  const caps = spec.capabilities;
  const lines = [
    'proxrun-launch 1',
    `fail ${spec.failStatus.notFound} ${spec.failStatus.other}`,
    `user ${checkId(spec.uid, 'uid')} ${checkId(spec.gid, 'gid')}`,
    ['groups', ...spec.additionalGids.map((g) => checkId(g, 'additional gid'))].join(' '),
    `caps ${mask(caps.bounding)} ${mask(caps.effective)} ${mask(caps.inheritable)} ${mask(caps.permitted)} ${mask(caps.ambient)}`,
    `cwd ${encodeWord(spec.cwd)}`,
  ];
  if (spec.umask !== undefined) {
    if (!Number.isInteger(spec.umask) || spec.umask < 0 || spec.umask > 0o777) throw new Error(`umask ${spec.umask} is out of range`);
    lines.push(`umask 0${spec.umask.toString(8)}`);
  }
  for (const r of spec.rlimits ?? []) {
    if (!Number.isInteger(r.resource) || r.resource < 0 || r.resource > 15) throw new Error(`rlimit resource ${r.resource} is out of range`);
    for (const v of [r.soft, r.hard]) if (v < 0n || v > 0xffffffffffffffffn) throw new Error(`rlimit value ${v} is not a uint64`);
    if (r.soft > r.hard) throw new Error(`rlimit ${r.resource}: soft ${r.soft} is above hard ${r.hard}`);
    lines.push(`rlimit ${r.resource} ${r.soft.toString(10)} ${r.hard.toString(10)}`);
  }
  if (spec.noNewPrivileges) lines.push('nnp');
  for (const entry of spec.env) lines.push(`env ${encodeWord(entry)}`);
  for (const arg of spec.args) lines.push(`arg ${encodeWord(arg)}`);
  if (spec.seccomp !== undefined) lines.push(...seccompLines(spec.seccomp));
  return `${lines.join('\n')}\n`;
}

/** The input split over environment variables for `proxrun-launch --env`. */
export function launchEnvironment(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  let index = 0;
  for (let at = 0; at < text.length; at += ENV_CHUNK) env[`${LAUNCH_ENV_PREFIX}${index++}`] = text.slice(at, at + ENV_CHUNK);
  return env;
}
