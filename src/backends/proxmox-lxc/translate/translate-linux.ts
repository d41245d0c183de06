/**
 * OCI `linux` outside resources: namespaces, id mappings, sysctls, masked and read-only paths,
 * and the fields a Proxmox container has no way to express.
 */
import { joinPointer } from '../../../oci/problems.js';
import type { IdMapping, Linux } from '../../../oci/spec.js';
import { PROXMOX_DEFAULT_ID_MAP } from '../../../monitor/index.js';
import { Findings } from '../../shared/findings.js';
import { hasControlCharacter } from '../../../proxmox/conf-file.js';

/** The `lxc.sysctl.*` keys Proxmox's raw-key allow-list takes: the IPC-namespaced ones, exactly. */
export const PROXMOX_SYSCTLS: ReadonlySet<string> = new Set([
  'fs.mqueue', 'kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax',
  'kernel.shmmni', 'kernel.shm_rmid_forced',
]);

/**
 * Masked paths runc, crun, containerd and podman emit by default. In an unprivileged Proxmox
 * container they are already out of reach: the host-owned files need capabilities in the
 * initial user namespace, and LXC's proc/sys mounts and AppArmor profile cover the rest.
 */
export const STANDARD_MASKED_PATHS: ReadonlySet<string> = new Set([
  '/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/fs/selinux',
  '/sys/dev/block', '/sys/devices/virtual/powercap',
]);

/** Read-only paths the same engines emit by default (LXC mounts /proc/sys and /sys read-only or denies writes). */
export const STANDARD_READONLY_PATHS: ReadonlySet<string> = new Set([
  '/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
]);

/** Namespaces a Proxmox container always has of its own; the spec must ask for them to be private. */
const REQUIRED_PRIVATE = ['pid', 'ipc', 'uts', 'mount'] as const;

export interface LinuxTranslation {
  rawLxc: Array<[string, string]>;
  /** Whether the spec asks for a private network namespace (without a path). */
  privateNetwork: boolean;
}

function isProxmoxDefaultMap(mappings: readonly IdMapping[] | undefined, hostBase: number): boolean {
  return mappings !== undefined && mappings.length === 1 && mappings[0]?.containerID === 0
    && mappings[0].hostID === hostBase && mappings[0].size === PROXMOX_DEFAULT_ID_MAP.size;
}

function translateNamespaces(linux: Linux, unprivileged: boolean, lenient: boolean, findings: Findings): boolean {
  const namespaces = linux.namespaces ?? [];
  const types = new Set(namespaces.map((ns) => ns.type));
  let privateNetwork = false;
  namespaces.forEach((ns, index) => {
    const at = joinPointer('/linux/namespaces', index);
    if (ns.type === 'time') {
      findings.refuse(at, 'time namespaces are not supported by the proxmox-lxc backend');
      return;
    }
    if (ns.path !== undefined && ns.path !== '') {
      const why = ns.type === 'network'
        ? 'joining an existing network namespace is not possible: Proxmox gives the container a network namespace of its own'
        : `joining an existing ${ns.type} namespace is not supported by the proxmox-lxc backend`;
      findings.refuse(joinPointer(at, 'path'), why);
      if (ns.type === 'network' && lenient) privateNetwork = true;
      return;
    }
    if (ns.type === 'network') privateNetwork = true;
  });
  for (const type of REQUIRED_PRIVATE) {
    if (!types.has(type)) findings.refuse('/linux/namespaces', `has no ${type} namespace: a proxmox-lxc container cannot share the host's`);
  }
  if (!types.has('network')) findings.refuse('/linux/namespaces', 'has no network namespace: a proxmox-lxc container cannot use the host network');

  const hasUser = types.has('user');
  const hasMappings = (linux.uidMappings ?? []).length > 0 || (linux.gidMappings ?? []).length > 0;
  if (hasUser && !unprivileged) {
    findings.refuse('/linux/namespaces', 'asks for a user namespace, but io.proxrun.pve.unprivileged makes the container privileged');
  } else if (hasMappings) {
    const expected = `containerID 0, hostID ${PROXMOX_DEFAULT_ID_MAP.hostUidBase}, size ${PROXMOX_DEFAULT_ID_MAP.size}`;
    if (!isProxmoxDefaultMap(linux.uidMappings, PROXMOX_DEFAULT_ID_MAP.hostUidBase)) {
      findings.refuse('/linux/uidMappings', `only Proxmox's own mapping (${expected}) is supported`);
    }
    if (!isProxmoxDefaultMap(linux.gidMappings, PROXMOX_DEFAULT_ID_MAP.hostGidBase)) {
      findings.refuse('/linux/gidMappings', `only Proxmox's own mapping (${expected}) is supported`);
    }
  }
  return privateNetwork;
}

function translateSysctl(sysctl: Readonly<Record<string, string | undefined>>, findings: Findings, raw: Array<[string, string]>): void {
  for (const [key, value] of Object.entries(sysctl)) {
    if (value === undefined) continue;
    const at = joinPointer('/linux/sysctl', key);
    const name = key.replace(/\//g, '.');
    if (!PROXMOX_SYSCTLS.has(name)) {
      findings.refuse(at, 'Proxmox allows only the IPC-namespaced sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue) as raw keys');
    } else if (hasControlCharacter(value)) {
      findings.refuse(at, 'must not contain control characters');
    } else {
      raw.push([`lxc.sysctl.${name}`, value]);
    }
  }
}

function checkPathList(list: readonly string[] | undefined, standard: ReadonlySet<string>, base: string, what: string, findings: Findings): void {
  (list ?? []).forEach((path, index) => {
    if (!standard.has(path)) findings.refuse(joinPointer(base, index), `${what} ${path} is not one the proxmox-lxc container already protects`);
  });
}

export function translateLinux(linux: Linux | undefined, unprivileged: boolean, lenient: boolean, findings: Findings): LinuxTranslation {
  const raw: Array<[string, string]> = [];
  if (linux === undefined) {
    findings.refuse('/linux', 'is required: the namespaces decide what the container shares with the host');
    return { rawLxc: raw, privateNetwork: false };
  }
  const privateNetwork = translateNamespaces(linux, unprivileged, lenient, findings);
  translateSysctl(linux.sysctl ?? {}, findings, raw);
  checkPathList(linux.maskedPaths, STANDARD_MASKED_PATHS, '/linux/maskedPaths', 'masked path', findings);
  checkPathList(linux.readonlyPaths, STANDARD_READONLY_PATHS, '/linux/readonlyPaths', 'read-only path', findings);
  // cgroupsPath (`/default/ID`, `machine.slice:libpod:ID`, ...) is ignored: Proxmox places the container's cgroup.
  // linux.seccomp: translate-seccomp.ts (the launcher installs it).
  if ((linux.devices ?? []).length > 0) findings.refuse('/linux/devices', 'device nodes are not supported by the proxmox-lxc backend');
  if (Object.keys(linux.netDevices ?? {}).length > 0) findings.refuse('/linux/netDevices', 'moving network devices is not supported by the proxmox-lxc backend');
  if (linux.timeOffsets !== undefined) findings.refuse('/linux/timeOffsets', 'time namespaces are not supported by the proxmox-lxc backend');
  if (linux.rootfsPropagation !== undefined) findings.refuse('/linux/rootfsPropagation', 'rootfs propagation is not supported by the proxmox-lxc backend');
  if (linux.mountLabel !== undefined && linux.mountLabel !== '') findings.refuse('/linux/mountLabel', 'mount labels are not supported by the proxmox-lxc backend');
  if (linux.intelRdt !== undefined) findings.refuse('/linux/intelRdt', 'Intel RDT is not supported by the proxmox-lxc backend');
  if (linux.memoryPolicy !== undefined) findings.refuse('/linux/memoryPolicy', 'memory policies are not supported by the proxmox-lxc backend');
  if (linux.personality !== undefined) findings.refuse('/linux/personality', 'personality is not supported by the proxmox-lxc backend');
  return { rawLxc: raw, privateNetwork };
}
