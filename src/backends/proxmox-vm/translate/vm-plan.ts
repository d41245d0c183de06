/**
 * OCI spec -> what one proxmox-vm VM is: the guest spec (args, env, cwd, uid/gid, rlimits,
 * hostname, read-only root), VM memory and cores. Pure: no I/O. A field the VM cannot honour is a
 * Problem naming its JSON path, or with `lenient` a warning line; all problems are collected.
 *
 * Fields that only narrow what the payload can reach of the host (namespaces, seccomp,
 * capabilities, masked/read-only paths, the device cgroup, LSM labels, noNewPrivileges) are met
 * by the VM boundary itself: the payload runs on its own kernel and sees no host resource, so
 * they are accepted as satisfied (docs/proxmox-vm.md, "What each OCI field becomes").
 */
import { joinPointer, type Problem } from '../../../oci/problems.js';
import type { LinuxResources, Mount, Process, Spec } from '../../../oci/spec.js';
import { GUEST_RLIMIT_FLAGS, type GuestRlimit, type GuestShare, type GuestSpec } from '../guest/index.js';
import { MIN_VM_MEMORY_MIB } from '../settings.js';
import { Findings } from '../../shared/findings.js';

/** What a bind mount's source is on the host (injected so that planning stays free of I/O). */
export interface BindSource {
  readonly kind: 'file' | 'directory' | 'other' | 'missing';
  readonly size: number;
}

/** A small host file whose contents are copied into the disk image at create (a snapshot). */
export interface FileCopy {
  readonly source: string;
  readonly destination: string;
}

/** A host directory shared over virtiofs; `tag` is filled in by create (the mapping's id). */
export interface DirectoryShare {
  readonly source: string;
  readonly destination: string;
  readonly readonly: boolean;
}

/** Files above this are not copied into the image (a bind-mounted file is meant to be small: hosts, resolv.conf). */
export const MAX_COPIED_FILE_BYTES = 1024 * 1024;

export interface VmPlan {
  readonly guest: GuestSpec;
  readonly memoryMiB: number;
  readonly cores: number;
  /** Bind-mounted host files copied into the disk image. */
  readonly fileCopies: readonly FileCopy[];
  /** Bind-mounted host directories, each a virtiofs share (create adds tags to the guest spec). */
  readonly shares: readonly DirectoryShare[];
  readonly warnings: readonly string[];
}

export interface VmPlanOptions {
  readonly lenient: boolean;
  readonly defaultMemoryMiB: number;
  readonly defaultCores: number;
  /** Whether the node has virtiofsd (host directories as virtiofs); without it bind mounts are refused. */
  readonly virtiofsd: boolean;
  /** What a bind source is; without it every bind mount is refused as unknown. */
  readonly describeSource?: (source: string) => BindSource;
}

export interface VmPlanResult {
  readonly plan?: VmPlan;
  readonly problems: Problem[];
}

const MIB = 1024 * 1024;
const DEFAULT_CPU_PERIOD = 100_000;
const DEFAULT_UMASK = 0o022;
/** What the guest gives the payload when the spec sets nothing (Debian's default PATH, as runc users expect). */
const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

/** Mounts the guest makes itself (its own kernel's filesystems), by destination and type. */
const GUEST_OWN_MOUNTS: ReadonlyMap<string, readonly string[]> = new Map([
  ['/proc', ['proc']],
  ['/sys', ['sysfs']],
  ['/sys/fs/cgroup', ['cgroup', 'cgroup2']],
  ['/dev', ['tmpfs', 'devtmpfs']],
  ['/dev/pts', ['devpts']],
  ['/dev/shm', ['tmpfs', 'bind']],
  ['/dev/mqueue', ['mqueue']],
  ['/run', ['tmpfs']],
  ['/tmp', ['tmpfs']],
]);

function processPart(process: Process | undefined, findings: Findings): Omit<GuestSpec, 'readonlyRoot' | 'hostname'> {
  if (process === undefined) {
    findings.refuse('/process', 'is required: the proxmox-vm backend runs the process in the VM');
    return { args: ['/bin/false'], env: [], cwd: '/', uid: 0, gid: 0 };
  }
  const args = process.args ?? [];
  if (args.length === 0 || args[0] === '') findings.refuse('/process/args', 'must name the program to run');
  else if (args[0]?.includes('=')) findings.refuse('/process/args/0', 'must not contain "=": the guest runs the program through env(1)');
  for (const [base, list] of [['/process/args', args], ['/process/env', process.env ?? []]] as const) {
    list.forEach((value, index) => {
      if (value.includes('\u0000')) findings.refuse(joinPointer(base, index), 'must not contain a NUL character');
    });
  }
  (process.env ?? []).forEach((entry, index) => {
    if (entry.indexOf('=') <= 0) findings.refuse(joinPointer('/process/env', index), 'is not NAME=VALUE');
  });
  if (process.terminal === true) findings.refuse('/process/terminal', 'a terminal is not supported by the proxmox-vm backend (the guest relays stdout and stderr as streams)');
  if (!process.cwd.startsWith('/')) findings.refuse('/process/cwd', 'must be an absolute path');
  const user = process.user ?? { uid: 0, gid: 0 };
  if ((user.additionalGids ?? []).length > 0) findings.refuse('/process/user/additionalGids', 'the guest sets only the primary group');
  if (user.umask !== undefined && user.umask !== DEFAULT_UMASK) findings.refuse('/process/user/umask', 'only the default umask 0022 is supported by the proxmox-vm backend');
  if (user.username !== undefined) findings.refuse('/process/user/username', 'is a Windows field');
  const rlimits: GuestRlimit[] = [];
  (process.rlimits ?? []).forEach((rlimit, index) => {
    const name = rlimit.type.replace(/^RLIMIT_/, '').toLowerCase();
    if (!(name in GUEST_RLIMIT_FLAGS)) {
      findings.refuse(joinPointer('/process/rlimits', index, 'type'), `${rlimit.type} cannot be set in the guest (RLIMIT_NOFILE and RLIMIT_NPROC can)`);
    } else if (rlimit.soft > rlimit.hard) {
      findings.refuse(joinPointer('/process/rlimits', index), 'soft limit is larger than the hard limit');
    } else if (rlimits.some((r) => r.name === name)) {
      findings.refuse(joinPointer('/process/rlimits', index, 'type'), `${rlimit.type} is given more than once`);
    } else {
      rlimits.push({ name: name as GuestRlimit['name'], soft: rlimit.soft, hard: rlimit.hard });
    }
  });
  const refused: Array<[keyof Process, string]> = [
    ['oomScoreAdj', 'the OOM score of the payload inside the VM'],
    ['ioPriority', 'I/O priority'],
    ['scheduler', 'scheduler settings'],
    ['execCPUAffinity', 'CPU affinity'],
  ];
  for (const [field, what] of refused) {
    if (process[field] !== undefined) findings.refuse(`/process/${field}`, `${what} is not supported by the proxmox-vm backend`);
  }
  return {
    args: [...args],
    env: process.env === undefined ? DEFAULT_ENV : [...process.env],
    cwd: process.cwd,
    uid: user.uid ?? 0,
    gid: user.gid ?? 0,
    ...(rlimits.length > 0 ? { rlimits } : {}),
  };
}

const SAFE_DESTINATION = /^\/[A-Za-z0-9._+@%:,/-]*$/;

function isReadonly(mount: Mount): boolean {
  return (mount.options ?? []).includes('ro');
}

function checkMounts(mounts: readonly Mount[], options: VmPlanOptions, findings: Findings): { fileCopies: FileCopy[]; shares: DirectoryShare[] } {
  const fileCopies: FileCopy[] = [];
  const shares: DirectoryShare[] = [];
  mounts.forEach((mount, index) => {
    const at = joinPointer('/mounts', index);
    const type = mount.type ?? ((mount.options ?? []).some((o) => o === 'bind' || o === 'rbind') ? 'bind' : '');
    if (GUEST_OWN_MOUNTS.get(mount.destination)?.includes(type) === true) return;
    if (type !== 'bind') {
      findings.refuse(at, `a ${type || 'typeless'} mount at ${mount.destination} is not supported by the proxmox-vm backend (the guest mounts only its own proc, sysfs, devtmpfs, devpts, /dev/shm and /tmp)`);
      return;
    }
    const what = `a bind mount of ${mount.source ?? '?'} at ${mount.destination}`;
    if (!SAFE_DESTINATION.test(mount.destination) || mount.destination === '/' || mount.destination.split('/').includes('..')) {
      findings.refuse(at, `${what}: the destination must be an absolute path below / of letters, digits and ._+@%:,-`);
      return;
    }
    const source = mount.source ?? '';
    const found: BindSource = source.startsWith('/') && options.describeSource !== undefined ? options.describeSource(source) : { kind: 'missing', size: 0 };
    if (found.kind === 'file') {
      if (found.size > MAX_COPIED_FILE_BYTES) findings.refuse(at, `${what}: a bind-mounted file is copied into the VM's disk, and this one is larger than ${MAX_COPIED_FILE_BYTES} bytes`);
      else fileCopies.push({ source, destination: mount.destination });
    } else if (found.kind === 'directory') {
      if (/[,=]/.test(source)) findings.refuse(at, `${what}: a shared directory's path cannot contain "," or "=" (Proxmox keeps it in a property string)`);
      else if (!options.virtiofsd) findings.refuse(at, `${what} needs virtiofs, and this node has no virtiofsd (Debian package virtiofsd, or QEMU's /usr/lib/qemu/virtiofsd)`);
      else shares.push({ source, destination: mount.destination, readonly: isReadonly(mount) });
    } else {
      findings.refuse(at, `${what}: the source is ${found.kind === 'missing' ? 'not an existing absolute path' : 'neither a file nor a directory'}`);
    }
  });
  return { fileCopies, shares };
}

function resourcesPart(resources: LinuxResources | undefined, options: VmPlanOptions, findings: Findings): { memoryMiB: number; cores: number; pidsLimit?: number } {
  let memoryMiB = options.defaultMemoryMiB;
  let cores = options.defaultCores;
  const limit = resources?.memory?.limit;
  if (limit !== undefined && limit > 0) {
    memoryMiB = Math.ceil(limit / MIB);
    if (memoryMiB < MIN_VM_MEMORY_MIB) findings.refuse('/linux/resources/memory/limit', `${limit} bytes is below the ${MIN_VM_MEMORY_MIB} MiB a VM needs to boot`);
  }
  for (const field of ['reservation', 'swap', 'kernel', 'kernelTCP', 'swappiness', 'disableOOMKiller'] as const) {
    if (resources?.memory?.[field] !== undefined) findings.refuse(`/linux/resources/memory/${field}`, 'only memory.limit (the VM\'s memory) is supported by the proxmox-vm backend');
  }
  const cpu = resources?.cpu;
  if (cpu?.quota !== undefined && cpu.quota > 0) {
    cores = Math.max(1, Math.ceil(cpu.quota / (cpu.period ?? DEFAULT_CPU_PERIOD)));
  }
  for (const field of ['burst', 'realtimeRuntime', 'realtimePeriod', 'cpus', 'mems', 'idle'] as const) {
    if (cpu?.[field] !== undefined && cpu[field] !== '') findings.refuse(`/linux/resources/cpu/${field}`, 'only cpu.quota/period (the VM\'s cores) and cpu.shares are supported by the proxmox-vm backend');
  }
  // pids.limit: a cgroup in the guest (0 or -1 mean no limit, as for runc).
  const pids = resources?.pids?.limit;
  const pidsLimit = pids !== undefined && pids > 0 ? pids : undefined;
  for (const field of ['blockIO', 'hugepageLimits', 'network', 'rdma', 'unified'] as const) {
    if (resources?.[field] !== undefined) findings.refuse(`/linux/resources/${field}`, 'is not supported by the proxmox-vm backend');
  }
  return { memoryMiB, cores, ...(pidsLimit !== undefined ? { pidsLimit } : {}) };
}

function checkLinux(spec: Spec, findings: Findings): void {
  const linux = spec.linux;
  if (linux === undefined) return;
  (linux.namespaces ?? []).forEach((ns, index) => {
    if (ns.path !== undefined && ns.path !== '') findings.refuse(joinPointer('/linux/namespaces', index, 'path'), 'joining a host namespace is not possible from a VM');
  });
  if ((linux.uidMappings ?? []).length > 0 || (linux.gidMappings ?? []).length > 0) findings.refuse('/linux/uidMappings', 'id mappings are not supported by the proxmox-vm backend');
  if ((linux.devices ?? []).length > 0) findings.refuse('/linux/devices', 'host devices cannot be passed into the VM by the proxmox-vm backend');
  if (linux.sysctl !== undefined && Object.keys(linux.sysctl).length > 0) findings.refuse('/linux/sysctl', 'sysctls are not set in the guest by the proxmox-vm backend');
  for (const field of ['timeOffsets', 'netDevices', 'intelRdt', 'memoryPolicy', 'personality'] as const) {
    if (linux[field] !== undefined) findings.refuse(`/linux/${field}`, 'is not supported by the proxmox-vm backend');
  }
}

export function planVm(spec: Spec, options: VmPlanOptions): VmPlanResult {
  const findings = new Findings(options.lenient);
  const guestProcess = processPart(spec.process, findings);
  if (spec.root === undefined) findings.refuse('/root', 'is required');
  if (spec.domainname !== undefined && spec.domainname !== '') findings.refuse('/domainname', 'a domain name is not supported by the proxmox-vm backend');
  let hostname: string | undefined;
  if (spec.hostname !== undefined && spec.hostname !== '') {
    if (/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(spec.hostname)) hostname = spec.hostname;
    else findings.refuse('/hostname', 'must be a host name of letters, digits, "." and "-" (at most 63)');
  }
  const { fileCopies, shares } = checkMounts(spec.mounts ?? [], options, findings);
  checkLinux(spec, findings);
  const { memoryMiB, cores, pidsLimit } = resourcesPart(spec.linux?.resources, options, findings);
  for (const hook of ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const) {
    if ((spec.hooks?.[hook] ?? []).length > 0) findings.refuse(`/hooks/${hook}`, 'hooks are not run by the proxmox-vm backend');
  }
  if (findings.problems.length > 0) return { problems: findings.problems };
  const guest: GuestSpec = {
    ...guestProcess,
    readonlyRoot: spec.root?.readonly === true,
    ...(hostname !== undefined ? { hostname } : {}),
    ...(pidsLimit !== undefined ? { pidsLimit } : {}),
  };
  return { plan: { guest, memoryMiB, cores, fileCopies, shares, warnings: findings.warnings }, problems: [] };
}
