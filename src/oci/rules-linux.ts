/**
 * The MUSTs of config-linux.md (and the kernel limits behind them) that need more than one field or
 * a key of a map, so JSON Schema cannot state them: namespaces and what needs one, id maps,
 * resources, seccomp, the memory policy, time offsets, network devices. Values a single field can
 * be checked on its own (names, ranges) are in schemas/oci-config.schema.json. Run only on a
 * document that passed the schema; every problem names its JSON pointer. Applies to every backend.
 */
import { joinPointer, type Problem } from './problems.js';
import type { IdMapping, Linux, LinuxNamespaceType, Spec } from './spec.js';

/** The kernel's limit of lines in a uid_map or gid_map (UID_GID_MAP_MAX_EXTENTS, Linux 4.15+). */
const MAX_ID_MAP_ENTRIES = 340;
const UINT32_MAX = 4294967295;

/** Kernel parameters that belong to a namespace (runc's and crun's list); any other sysctl would change the host. */
const IPC_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/** The namespace a sysctl lives in, or undefined when it is global to the host. Accepts `/` or `.` separators. */
function sysctlNamespace(key: string): LinuxNamespaceType | undefined {
  const name = key.replace(/\//g, '.');
  if (IPC_SYSCTLS.has(name) || name.startsWith('fs.mqueue.')) return 'ipc';
  if (name.startsWith('net.')) return 'network';
  if (name === 'kernel.hostname' || name === 'kernel.domainname') return 'uts';
  return undefined;
}

/** The kernel's dev_valid_name(): 1 to 15 bytes, not `.` or `..`, no `/`, `:` or white space. */
function isNetDeviceName(name: string): boolean {
  return name !== '' && Buffer.byteLength(name) < 16 && name !== '.' && name !== '..' && !/[/:\s]/.test(name);
}
const NET_DEVICE_NAME = 'must be a network device name: 1 to 15 bytes, not "." or "..", without "/", ":" or white space (the kernel\'s dev_valid_name)';

/**
 * An id map as the kernel takes it (user_namespaces(7), map_write): at most 340 lines, no range
 * reaching 4294967295, no two ranges overlapping on either side.
 */
export function checkIdMap(map: readonly IdMapping[] | undefined, at: string, problems: Problem[]): void {
  if (map === undefined) return;
  if (map.length > MAX_ID_MAP_ENTRIES) {
    problems.push({ path: at, message: `must have at most ${MAX_ID_MAP_ENTRIES} entries (the kernel's limit)` });
    return;
  }
  map.forEach((entry, index) => {
    for (const side of ['containerID', 'hostID'] as const) {
      if (entry[side] + entry.size - 1 > UINT32_MAX - 1) {
        problems.push({ path: joinPointer(at, index), message: `${side} + size must be at most ${UINT32_MAX} (the kernel refuses the range)` });
      }
    }
    for (let earlier = 0; earlier < index; earlier += 1) {
      const other = map[earlier];
      if (other === undefined) continue;
      for (const side of ['containerID', 'hostID'] as const) {
        if (entry[side] < other[side] + other.size && other[side] < entry[side] + entry.size) {
          problems.push({ path: joinPointer(at, index), message: `its ${side} range overlaps ${joinPointer(at, earlier)} (the kernel refuses overlapping ranges)` });
        }
      }
    }
  });
}

function checkNamespaces(spec: Spec, linux: Linux, problems: Problem[]): Map<LinuxNamespaceType, number> {
  const namespaces = linux.namespaces ?? [];
  const firstOfType = new Map<LinuxNamespaceType, number>();
  namespaces.forEach((ns, index) => {
    const earlier = firstOfType.get(ns.type);
    if (earlier !== undefined) {
      problems.push({ path: joinPointer('/linux/namespaces', index, 'type'), message: `duplicate namespace type ${ns.type} (also at /linux/namespaces/${earlier})` });
    } else {
      firstOfType.set(ns.type, index);
    }
    if (ns.path !== undefined && !ns.path.startsWith('/')) {
      problems.push({ path: joinPointer('/linux/namespaces', index, 'path'), message: 'must be an absolute path' });
    }
  });
  const has = (type: LinuxNamespaceType): boolean => firstOfType.has(type);

  // User namespaces (runc's rules): a new one needs both maps; maps without one cannot be applied.
  const userNs = namespaces.find((ns) => ns.type === 'user');
  const uidMapped = (linux.uidMappings ?? []).length > 0;
  const gidMapped = (linux.gidMappings ?? []).length > 0;
  if (userNs !== undefined && userNs.path === undefined) {
    if (!uidMapped) problems.push({ path: '/linux/uidMappings', message: 'is required when a new user namespace is created' });
    if (!gidMapped) problems.push({ path: '/linux/gidMappings', message: 'is required when a new user namespace is created' });
  }
  if (userNs === undefined) {
    if (uidMapped) problems.push({ path: '/linux/uidMappings', message: 'needs a user namespace in /linux/namespaces' });
    if (gidMapped) problems.push({ path: '/linux/gidMappings', message: 'needs a user namespace in /linux/namespaces' });
  }
  checkIdMap(linux.uidMappings, '/linux/uidMappings', problems);
  checkIdMap(linux.gidMappings, '/linux/gidMappings', problems);

  // Host and domain names can only be set in a UTS namespace of the container's own (runc's rule).
  if (!has('uts')) {
    if (spec.hostname !== undefined && spec.hostname !== '') problems.push({ path: '/hostname', message: 'needs a uts namespace in /linux/namespaces' });
    if (spec.domainname !== undefined && spec.domainname !== '') problems.push({ path: '/domainname', message: 'needs a uts namespace in /linux/namespaces' });
  }
  if (linux.timeOffsets !== undefined && !has('time')) {
    problems.push({ path: '/linux/timeOffsets', message: 'needs a time namespace in /linux/namespaces' });
  }
  for (const clock of Object.keys(linux.timeOffsets ?? {})) {
    if (clock !== 'boottime' && clock !== 'monotonic') {
      problems.push({ path: joinPointer('/linux/timeOffsets', clock), message: 'is not a clock a time namespace offsets (boottime, monotonic)' });
    }
  }
  // Network devices are moved into the container's network namespace: there must be one.
  if (linux.netDevices !== undefined && Object.keys(linux.netDevices).length > 0 && !has('network')) {
    problems.push({ path: '/linux/netDevices', message: 'needs a network namespace in /linux/namespaces' });
  }
  for (const [name, device] of Object.entries(linux.netDevices ?? {})) {
    if (!isNetDeviceName(name)) problems.push({ path: joinPointer('/linux/netDevices', name), message: NET_DEVICE_NAME });
    if (device?.name !== undefined && !isNetDeviceName(device.name)) problems.push({ path: joinPointer('/linux/netDevices', name, 'name'), message: NET_DEVICE_NAME });
  }
  return firstOfType;
}

function checkDevicesAndPaths(linux: Linux, problems: Problem[]): void {
  (linux.devices ?? []).forEach((device, index) => {
    const at = joinPointer('/linux/devices', index);
    if (!device.path.startsWith('/')) problems.push({ path: `${at}/path`, message: 'must be an absolute path' });
    if (device.type !== 'p') {
      if (device.major === undefined) problems.push({ path: `${at}/major`, message: `is required for device type ${device.type}` });
      if (device.minor === undefined) problems.push({ path: `${at}/minor`, message: `is required for device type ${device.type}` });
    }
  });
  for (const list of ['maskedPaths', 'readonlyPaths'] as const) {
    (linux[list] ?? []).forEach((p, index) => {
      if (!p.startsWith('/')) problems.push({ path: joinPointer('/linux', list, index), message: 'must be an absolute path' });
    });
  }
}

function checkSysctl(linux: Linux, has: (type: LinuxNamespaceType) => boolean, problems: Problem[]): void {
  for (const key of Object.keys(linux.sysctl ?? {})) {
    if (key === '') {
      problems.push({ path: '/linux/sysctl/', message: 'key must not be empty' });
      continue;
    }
    const needed = sysctlNamespace(key);
    const at = joinPointer('/linux/sysctl', key);
    if (needed === undefined) problems.push({ path: at, message: 'is not in a kernel namespace of the container, so it cannot be set' });
    else if (!has(needed)) problems.push({ path: at, message: `needs a ${needed} namespace in /linux/namespaces` });
  }
}

function checkResources(linux: Linux, problems: Problem[]): void {
  const resources = linux.resources;
  if (resources === undefined) return;
  const memory = resources.memory;
  if (memory?.limit !== undefined && memory.swap !== undefined && memory.limit > 0 && memory.swap > 0 && memory.swap < memory.limit) {
    problems.push({ path: '/linux/resources/memory/swap', message: `must be at least memory.limit (${memory.limit}): it limits memory plus swap (runc: "memory+swap limit should be >= memory limit")` });
  }
  // 18446744073709551615 is -1 as a uint64, which runc takes as "not set".
  if (memory?.swappiness !== undefined && memory.swappiness > 100 && memory.swappiness < 18446744073709551615) {
    problems.push({ path: '/linux/resources/memory/swappiness', message: 'must be 0 to 100 (config-linux.md, vm.swappiness)' });
  }
  const cpu = resources.cpu;
  if (cpu?.quota !== undefined && cpu.quota > 0 && cpu.burst !== undefined && cpu.burst > cpu.quota) {
    problems.push({ path: '/linux/resources/cpu/burst', message: `must not exceed a positive quota (${cpu.quota}) (config-linux.md)` });
  }
  if (cpu?.quota !== undefined && (cpu.quota < -1 || (cpu.quota > 0 && cpu.quota < 1000))) {
    problems.push({ path: '/linux/resources/cpu/quota', message: 'must be -1 (no limit), 0 (not set) or at least 1000 microseconds (the kernel\'s smallest CFS quota)' });
  }
  if (cpu?.period !== undefined && cpu.period !== 0 && (cpu.period < 1000 || cpu.period > 1_000_000)) {
    problems.push({ path: '/linux/resources/cpu/period', message: 'must be 1000 to 1000000 microseconds (the kernel\'s CFS period range), or 0 (not set)' });
  }
  if (cpu?.realtimeRuntime !== undefined && cpu.realtimePeriod !== undefined && cpu.realtimePeriod > 0 && cpu.realtimeRuntime > cpu.realtimePeriod) {
    problems.push({ path: '/linux/resources/cpu/realtimeRuntime', message: `must not exceed realtimePeriod (${cpu.realtimePeriod}) (the kernel refuses it)` });
  }
  (resources.blockIO?.weightDevice ?? []).forEach((device, index) => {
    if (device.weight === undefined && device.leafWeight === undefined) {
      problems.push({ path: joinPointer('/linux/resources/blockIO/weightDevice', index), message: 'needs weight or leafWeight (config-linux.md)' });
    }
  });
  for (const [device, limits] of Object.entries(resources.rdma ?? {})) {
    if (limits?.hcaHandles === undefined && limits?.hcaObjects === undefined) {
      problems.push({ path: joinPointer('/linux/resources/rdma', device), message: 'needs hcaHandles or hcaObjects (config-linux.md)' });
    }
  }
  for (const key of Object.keys(resources.unified ?? {})) {
    const at = joinPointer('/linux/resources/unified', key);
    const dot = key.indexOf('.');
    if (key.includes('/')) problems.push({ path: at, message: 'must be a file name of the container\'s cgroup, without "/"' });
    else if (dot <= 0 || dot === key.length - 1) problems.push({ path: at, message: 'must be CONTROLLER.PARAMETER, such as "memory.high" (a file of the cgroup)' });
  }
}

const ERRNO_ACTIONS: ReadonlySet<string> = new Set(['SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE']);

function checkSeccomp(linux: Linux, problems: Problem[]): void {
  const seccomp = linux.seccomp;
  if (seccomp === undefined) return;
  if (seccomp.defaultErrnoRet !== undefined && !ERRNO_ACTIONS.has(seccomp.defaultAction)) {
    problems.push({ path: '/linux/seccomp/defaultErrnoRet', message: `is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not ${seccomp.defaultAction} (config-linux.md)` });
  }
  if (seccomp.listenerMetadata !== undefined && (seccomp.listenerPath === undefined || seccomp.listenerPath === '')) {
    problems.push({ path: '/linux/seccomp/listenerMetadata', message: 'must not be set without listenerPath (config-linux.md)' });
  }
  (seccomp.syscalls ?? []).forEach((syscall, index) => {
    if (syscall.errnoRet !== undefined && !ERRNO_ACTIONS.has(syscall.action)) {
      problems.push({ path: joinPointer('/linux/seccomp/syscalls', index, 'errnoRet'), message: `is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not ${syscall.action} (config-linux.md)` });
    }
  });
}

/** set_mempolicy(2): which modes take nodes and which flags go together. */
function checkMemoryPolicy(linux: Linux, problems: Problem[]): void {
  const policy = linux.memoryPolicy;
  if (policy?.mode === undefined) return;
  const { mode } = policy;
  const nodes = (policy.nodes ?? '').trim();
  const flags = policy.flags ?? [];
  if ((mode === 'MPOL_DEFAULT' || mode === 'MPOL_LOCAL') && nodes !== '') {
    problems.push({ path: '/linux/memoryPolicy/nodes', message: `must be empty for ${mode} (set_mempolicy(2))` });
  }
  if ((mode === 'MPOL_BIND' || mode === 'MPOL_INTERLEAVE' || mode === 'MPOL_WEIGHTED_INTERLEAVE' || mode === 'MPOL_PREFERRED_MANY') && nodes === '') {
    problems.push({ path: '/linux/memoryPolicy/nodes', message: `is required for ${mode} (set_mempolicy(2))` });
  }
  if (flags.includes('MPOL_F_STATIC_NODES') && flags.includes('MPOL_F_RELATIVE_NODES')) {
    problems.push({ path: '/linux/memoryPolicy/flags', message: 'MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other (set_mempolicy(2))' });
  }
  if (flags.includes('MPOL_F_NUMA_BALANCING') && mode !== 'MPOL_BIND' && mode !== 'MPOL_PREFERRED_MANY') {
    problems.push({ path: '/linux/memoryPolicy/flags', message: `MPOL_F_NUMA_BALANCING needs MPOL_BIND or MPOL_PREFERRED_MANY, not ${mode} (set_mempolicy(2))` });
  }
  if ((mode === 'MPOL_LOCAL' || (mode === 'MPOL_PREFERRED' && nodes === '')) && flags.some((f) => f === 'MPOL_F_STATIC_NODES' || f === 'MPOL_F_RELATIVE_NODES')) {
    problems.push({ path: '/linux/memoryPolicy/flags', message: `MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES need nodes, which ${mode} here has not (set_mempolicy(2))` });
  }
}

function checkOthers(linux: Linux, problems: Problem[]): void {
  if ((linux.personality?.flags ?? []).length > 0) {
    problems.push({ path: '/linux/personality/flags', message: 'must be empty: config-linux.md defines no personality flag' });
  }
  const closId = linux.intelRdt?.closID;
  if (closId !== undefined && (closId === '.' || closId === '..' || closId.includes('/'))) {
    problems.push({ path: '/linux/intelRdt/closID', message: 'must be a folder name in resctrl: not "." or "..", without "/"' });
  }
}

/** Every Linux rule, on a config for Linux (a `linux` section, or no other platform's). */
export function checkLinuxRules(spec: Spec, problems: Problem[]): void {
  const linux = spec.linux ?? {};
  const namespaces = checkNamespaces(spec, linux, problems);
  const has = (type: LinuxNamespaceType): boolean => namespaces.has(type);
  checkDevicesAndPaths(linux, problems);
  checkSysctl(linux, has, problems);
  checkResources(linux, problems);
  checkSeccomp(linux, problems);
  checkMemoryPolicy(linux, problems);
  checkOthers(linux, problems);
}
