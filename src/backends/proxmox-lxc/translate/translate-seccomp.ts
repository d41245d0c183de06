/**
 * OCI `linux.seccomp` -> the launcher's seccomp input (src/monitor/launch-input.ts). Pure. The
 * launcher installs it with libseccomp inside the CT just before the app (and every exec) runs,
 * as runc 1.1 does; this side does what runc's specconv and getAction do: names become one rule
 * each, actions and operators become libseccomp's values (ERRNO and TRACE default to EPERM, TRAP
 * ignores errnoRet), architectures are mapped by runc's table. It also decides, as runc's
 * patchbpf.generatePatch does, whether the -ENOSYS stub goes in front of the filter.
 * The CT's own LXC/Proxmox seccomp policy stays underneath: filters stack, so what it blocks stays
 * blocked. Refused by name: SCMP_ACT_NOTIFY (the listener fd would have to reach an agent's socket
 * on the host from inside the CT) and SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (only for NOTIFY).
 */
import type { LaunchSeccomp, LaunchSeccompRule } from '../../../monitor/index.js';
import { joinPointer } from '../../../oci/problems.js';
import type { LinuxSeccomp } from '../../../oci/spec.js';
import type { Findings } from '../../shared/findings.js';

const EPERM = 1;
const ENOSYS = 38;

/** libseccomp's action values (seccomp.h), each with a function of the errno where it takes one. */
export const SECCOMP_ACTIONS: Readonly<Record<string, (errno: number | undefined) => number>> = {
  SCMP_ACT_KILL: () => 0x00000000,
  SCMP_ACT_KILL_THREAD: () => 0x00000000,
  SCMP_ACT_KILL_PROCESS: () => 0x80000000,
  SCMP_ACT_TRAP: () => 0x00030000,
  SCMP_ACT_ERRNO: (errno) => (0x00050000 | ((errno ?? EPERM) & 0xffff)) >>> 0,
  SCMP_ACT_TRACE: (errno) => (0x7ff00000 | ((errno ?? EPERM) & 0xffff)) >>> 0,
  SCMP_ACT_LOG: () => 0x7ffc0000,
  SCMP_ACT_ALLOW: () => 0x7fff0000,
};

/** libseccomp's `enum scmp_compare`. */
export const SECCOMP_OPERATORS: Readonly<Record<string, number>> = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
};

/** runc 1.1's architecture table, to libseccomp's names. */
export const SECCOMP_ARCHES: Readonly<Record<string, string>> = {
  SCMP_ARCH_X86: 'x86',
  SCMP_ARCH_X86_64: 'x86_64',
  SCMP_ARCH_X32: 'x32',
  SCMP_ARCH_ARM: 'arm',
  SCMP_ARCH_AARCH64: 'aarch64',
  SCMP_ARCH_MIPS: 'mips',
  SCMP_ARCH_MIPS64: 'mips64',
  SCMP_ARCH_MIPS64N32: 'mips64n32',
  SCMP_ARCH_MIPSEL: 'mipsel',
  SCMP_ARCH_MIPSEL64: 'mipsel64',
  SCMP_ARCH_MIPSEL64N32: 'mipsel64n32',
  SCMP_ARCH_PPC: 'ppc',
  SCMP_ARCH_PPC64: 'ppc64',
  SCMP_ARCH_PPC64LE: 'ppc64le',
  SCMP_ARCH_S390: 's390',
  SCMP_ARCH_S390X: 's390x',
};

/** Filter flags and their seccomp(2) bits; TSYNC needs nothing (the launcher has one thread). */
export const SECCOMP_FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 0,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
};

const NOTIFY_WHY = 'SCMP_ACT_NOTIFY is not supported by the proxmox-lxc backend: the listener fd would have to reach the seccomp agent (listenerPath) on the host from inside the CT';

/** Actions after which runc adds no -ENOSYS stub (patchbpf.isAllowAction). */
const PERMISSIVE = new Set(['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE']);

function toUint64(value: number | undefined, at: string, findings: Findings): bigint | undefined {
  if (value === undefined) return 0n;
  if (!Number.isSafeInteger(value) || value < 0) {
    findings.refuse(at, 'must be an integer from 0 to 2^53 - 1 here (larger values do not survive JSON parsing exactly)');
    return undefined;
  }
  return BigInt(value);
}

/** The launcher's seccomp input, or undefined when the profile is absent or disabled (runc: no default action and no syscalls). */
export function translateSeccomp(seccomp: LinuxSeccomp | undefined, findings: Findings): LaunchSeccomp | undefined {
  if (seccomp === undefined) return undefined;
  const base = '/linux/seccomp';
  const defaultName = seccomp.defaultAction as string | undefined;
  if ((defaultName === undefined || defaultName === '') && (seccomp.syscalls ?? []).length === 0) return undefined;
  let ok = true;
  const refuse = (at: string, why: string): void => {
    findings.refuse(at, why);
    ok = false;
  };

  const defaultAction = SECCOMP_ACTIONS[defaultName ?? ''];
  if (defaultName === 'SCMP_ACT_NOTIFY') refuse(`${base}/defaultAction`, 'SCMP_ACT_NOTIFY cannot be used as default action');
  else if (defaultAction === undefined) refuse(`${base}/defaultAction`, `string ${defaultName ?? ''} is not a valid action for seccomp`);

  const architectures: string[] = [];
  (seccomp.architectures ?? []).forEach((arch, index) => {
    const name = SECCOMP_ARCHES[arch];
    if (name === undefined) findings.refuse(joinPointer(`${base}/architectures`, index), `string ${arch} is not a valid arch for seccomp`);
    else architectures.push(name);
  });

  let flags = 0;
  (seccomp.flags ?? []).forEach((flag, index) => {
    const bit = SECCOMP_FLAGS[flag];
    if (bit === undefined) findings.refuse(joinPointer(`${base}/flags`, index), `${flag} is not supported by the proxmox-lxc backend (it only matters with SCMP_ACT_NOTIFY)`);
    else flags |= bit;
  });

  // A rule that cannot be expressed is left out (with lenient; otherwise the create stops anyway).
  const rules: LaunchSeccompRule[] = [];
  (seccomp.syscalls ?? []).forEach((call, index) => {
    const at = joinPointer(`${base}/syscalls`, index);
    const actionName = call.action as string;
    if (actionName === 'SCMP_ACT_NOTIFY') {
      findings.refuse(joinPointer(at, 'action'), NOTIFY_WHY);
      return;
    }
    const action = SECCOMP_ACTIONS[actionName];
    if (action === undefined) {
      findings.refuse(joinPointer(at, 'action'), `string ${actionName} is not a valid action for seccomp`);
      return;
    }
    let usable = true;
    const conditions = (call.args ?? []).map((arg, argIndex) => {
      const argAt = joinPointer(joinPointer(at, 'args'), argIndex);
      const op = SECCOMP_OPERATORS[arg.op];
      if (op === undefined) findings.refuse(joinPointer(argAt, 'op'), `string ${arg.op} is not a valid operator for seccomp`);
      const indexOk = Number.isInteger(arg.index) && arg.index >= 0 && arg.index <= 5;
      if (!indexOk) findings.refuse(joinPointer(argAt, 'index'), 'syscalls only have up to 6 arguments (index 0-5)');
      const value = toUint64(arg.value, joinPointer(argAt, 'value'), findings);
      const valueTwo = toUint64(arg.valueTwo, joinPointer(argAt, 'valueTwo'), findings);
      if (op === undefined || !indexOk || value === undefined || valueTwo === undefined) usable = false;
      return { index: arg.index, op: op ?? 0, value: value ?? 0n, valueTwo: valueTwo ?? 0n };
    });
    if (!usable) return;
    const value = action(actionName === 'SCMP_ACT_TRAP' ? undefined : call.errnoRet);
    call.names.forEach((name, nameIndex) => {
      if (name === '') findings.refuse(joinPointer(joinPointer(at, 'names'), nameIndex), 'empty string is not a valid syscall');
      else rules.push({ name, action: value, conditions });
    });
  });

  if (!ok || defaultAction === undefined || defaultName === undefined) return undefined;
  // runc compares defaultErrnoRet with the whole SCMP_ACT_ERRNO(ENOSYS) value, not with ENOSYS.
  const stubSkippedByErrno = seccomp.defaultErrnoRet !== undefined && seccomp.defaultErrnoRet === SECCOMP_ACTIONS['SCMP_ACT_ERRNO']?.(ENOSYS);
  return {
    defaultAction: defaultAction(seccomp.defaultErrnoRet),
    enosysStub: !stubSkippedByErrno && !PERMISSIVE.has(defaultName),
    flags,
    architectures,
    rules,
  };
}
