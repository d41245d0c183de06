/**
 * The Linux capability names (capability(7), up to CAP_CHECKPOINT_RESTORE, kernel 5.9+) in the
 * kernel's order, so a name's index is its bit number.
 */
const CAPABILITY_ORDER = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

export const LINUX_CAPABILITIES: ReadonlySet<string> = new Set(CAPABILITY_ORDER);

/** `CAP_KILL` -> 5. */
export function capabilityBit(name: string): number | undefined {
  const index = (CAPABILITY_ORDER as readonly string[]).indexOf(name);
  return index < 0 ? undefined : index;
}

/** LXC's spelling of a capability in `lxc.cap.keep`: `CAP_NET_RAW` -> `net_raw`. */
export function lxcCapabilityName(name: string): string {
  return name.replace(/^CAP_/, '').toLowerCase();
}

/**
 * What the in-CT launcher needs on top of the app's own capabilities, so the CT's bounding set
 * (`lxc.cap.keep`) holds them until the launcher drops them: switching user and groups
 * (SETUID, SETGID), cutting the bounding set and setting inheritable capabilities (SETPCAP),
 * loading a seccomp filter without no_new_privs (SYS_ADMIN), opening the app's stdio FIFOs and
 * its working directory as root whatever their modes (DAC_OVERRIDE, DAC_READ_SEARCH), and
 * handing its stdio to the user as runc does (CHOWN). runc's init holds all of them too, until
 * the same moment.
 */
export const LAUNCHER_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_SYS_ADMIN',
];
