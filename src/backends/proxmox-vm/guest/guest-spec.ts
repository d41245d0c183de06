/**
 * What one VM runs: the part of the OCI spec the guest init needs, checked,
 * and rendered as a shell fragment (`/proxrun/spec.sh`) that goes into the
 * small per-VM cpio appended to the shared initramfs.
 */
import { quoteShellWord } from '../../../lib/shell-quote.js';

export interface GuestSpec {
  /** process.args: args[0] is looked up with the PATH of `env` inside the rootfs. */
  readonly args: readonly string[];
  /** process.env as NAME=VALUE; the payload gets exactly these. */
  readonly env: readonly string[];
  /** process.cwd, absolute inside the rootfs. */
  readonly cwd: string;
  readonly uid: number;
  readonly gid: number;
  /** Sets the guest's hostname when given. */
  readonly hostname?: string;
  /** root.readonly: the rootfs disk is mounted read-only. */
  readonly readonlyRoot: boolean;
  /** Guest device of the rootfs disk; `/dev/vda` for the first virtio-blk disk (Proxmox `virtio0`). */
  readonly rootDevice?: string;
  /** process.rlimits the payload gets (set with busybox sh `ulimit` just before it runs). */
  readonly rlimits?: readonly GuestRlimit[];
  /** linux.resources.pids.limit: the payload runs in a cgroup of the guest with this pids.max. */
  readonly pidsLimit?: number;
  /** Host directories shared over virtiofs, mounted inside the rootfs before the payload runs. */
  readonly shares?: readonly GuestShare[];
}

export interface GuestShare {
  /** The virtiofs tag (the Proxmox directory mapping's id). */
  readonly tag: string;
  /** Absolute path inside the rootfs. */
  readonly destination: string;
  readonly readonly: boolean;
}

/** The rlimits busybox sh's `ulimit` sets as plain counts, by their flag. */
export const GUEST_RLIMIT_FLAGS = { nofile: 'n', nproc: 'u' } as const;

export interface GuestRlimit {
  readonly name: keyof typeof GUEST_RLIMIT_FLAGS;
  readonly soft: number;
  readonly hard: number;
}

export const DEFAULT_ROOT_DEVICE = '/dev/vda';

function checkId(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xfffffffe) throw new Error(`${name} must be an integer from 0 to 4294967294: ${value}`);
}

/** Throws naming the field when the guest cannot run the spec as given. */
export function checkGuestSpec(spec: GuestSpec): void {
  const [program] = spec.args;
  if (program === undefined || program === '') throw new Error('process.args must name a program to run');
  // busybox env would take a leading NAME=VALUE word as a variable, not as the program.
  if (program.includes('=')) throw new Error(`process.args[0] must not contain "=": ${JSON.stringify(program)}`);
  for (const entry of spec.env) {
    if (entry.indexOf('=') <= 0) throw new Error(`process.env entry is not NAME=VALUE: ${JSON.stringify(entry)}`);
  }
  if (!spec.cwd.startsWith('/')) throw new Error(`process.cwd must be absolute: ${JSON.stringify(spec.cwd)}`);
  checkId('process.user.uid', spec.uid);
  checkId('process.user.gid', spec.gid);
  if (spec.hostname !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(spec.hostname)) {
    throw new Error(`hostname is not a valid host name: ${JSON.stringify(spec.hostname)}`);
  }
  for (const limit of spec.rlimits ?? []) {
    if (!(limit.name in GUEST_RLIMIT_FLAGS)) throw new Error(`rlimit ${String(limit.name)} cannot be set in the guest`);
    if (!Number.isSafeInteger(limit.soft) || !Number.isSafeInteger(limit.hard) || limit.soft < 0 || limit.soft > limit.hard) {
      throw new Error(`rlimit ${limit.name} needs integers with 0 <= soft <= hard: ${limit.soft}:${limit.hard}`);
    }
  }
  if (spec.pidsLimit !== undefined && (!Number.isSafeInteger(spec.pidsLimit) || spec.pidsLimit < 1)) {
    throw new Error(`pids limit must be a positive integer: ${spec.pidsLimit}`);
  }
  for (const share of spec.shares ?? []) {
    // A virtio-fs tag is at most 36 bytes (the device's config space).
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,35}$/.test(share.tag)) throw new Error(`virtiofs tag is not a mapping id of at most 36 characters: ${JSON.stringify(share.tag)}`);
    if (!share.destination.startsWith('/') || share.destination === '/' || share.destination.split('/').includes('..')) {
      throw new Error(`share destination must be an absolute path below /: ${JSON.stringify(share.destination)}`);
    }
  }
  if (spec.rootDevice !== undefined && !/^\/dev\/[A-Za-z0-9/_-]+$/.test(spec.rootDevice)) {
    throw new Error(`root device must be a /dev path: ${JSON.stringify(spec.rootDevice)}`);
  }
}

/**
 * One rlimit as busybox sh: lowering the hard limit first fails while the soft one is above it, and
 * raising the soft one first fails while the hard one is below it, so the other order is the fallback.
 */
function rlimitLine(limit: GuestRlimit): string {
  const flag = GUEST_RLIMIT_FLAGS[limit.name];
  const hardFirst = `ulimit -H -${flag} ${limit.hard} && ulimit -S -${flag} ${limit.soft}`;
  const softFirst = `ulimit -S -${flag} ${limit.soft} && ulimit -H -${flag} ${limit.hard}`;
  return `  { ${hardFirst}; } 2>/dev/null || { ${softFirst}; } || { echo 'proxrun: cannot set rlimit ${limit.name}' >&2; exit 125; }`;
}

/**
 * The spec as busybox sh: plain variables plus `proxrun_exec_payload`, a
 * function that replaces its (sub)shell with the payload. Every value is
 * single-quoted, so no character in args or env can change the script.
 */
export function renderGuestSpec(spec: GuestSpec): string {
  checkGuestSpec(spec);
  const cwdInGuest = `/newroot${spec.cwd === '/' ? '' : spec.cwd}`;
  const command = [
    'exec /bin/busybox env -i',
    ...spec.env.map(quoteShellWord),
    '/bin/busybox nsenter -r/newroot',
    quoteShellWord(`-w${cwdInGuest}`),
    `-S ${spec.uid} -G ${spec.gid} -F --`,
    ...spec.args.map(quoteShellWord),
  ].join(' \\\n    ');
  return [
    '# proxrun guest spec: generated per VM, do not edit',
    `root_device=${quoteShellWord(spec.rootDevice ?? DEFAULT_ROOT_DEVICE)}`,
    `root_readonly=${spec.readonlyRoot ? 1 : 0}`,
    `payload_hostname=${quoteShellWord(spec.hostname ?? '')}`,
    `payload_cwd=${quoteShellWord(spec.cwd)}`,
    `pids_limit=${spec.pidsLimit ?? ''}`,
    'proxrun_mount_shares() {',
    '  :',
    ...(spec.shares ?? []).map((share) => `  proxrun_share ${quoteShellWord(share.tag)} ${quoteShellWord(share.destination)} ${share.readonly ? 'ro' : 'rw'}`),
    '}',
    'proxrun_exec_payload() {',
    // Into the payload's cgroup first: /proc/self in a builtin's redirection is this subshell.
    '  if [ -n "$pids_limit" ]; then read -r self _ </proc/self/stat && echo "$self" >/sys/fs/cgroup/proxrun/cgroup.procs || exit 125; fi',
    ...(spec.rlimits ?? []).map(rlimitLine),
    `  ${command}`,
    '}',
    '',
  ].join('\n');
}
