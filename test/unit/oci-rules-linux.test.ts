// Every statically checkable MUST of config.md and config-linux.md that proxrun adds to the official schema, one
// test per rule: the exact JSON pointer and message for a config that breaks it, nothing for one that keeps it.
// Rules of a single field are the schema's (validateConfigSchema); rules across fields are rules.ts / rules-linux.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfigRules } from '../../src/oci/rules.js';
import { validateConfigSchema } from '../../src/oci/schema-validate.js';
import type { Problem } from '../../src/oci/problems.js';
import type { Spec } from '../../src/oci/spec.js';

type Json = Record<string, unknown>;

/** A small Linux config that keeps every rule; `edit` changes a copy. */
function spec(edit: (s: Json) => void = () => undefined): Spec {
  const s: Json = {
    ociVersion: '1.3.0',
    root: { path: 'rootfs' },
    process: { cwd: '/', args: ['sh'], user: { uid: 0, gid: 0 } },
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'network' }] },
  };
  edit(s);
  return s as unknown as Spec;
}
const proc = (s: Json): Json => s['process'] as Json;
const linux = (s: Json): Json => s['linux'] as Json;
const resources = (s: Json): Json => (linux(s)['resources'] ??= {}) as Json;

/** The schema's problems (the rules never see a document the schema refused). */
function schemaOf(s: Spec): Problem[] {
  return validateConfigSchema(s);
}
/** The rules' problems, after checking the schema accepts the document. */
function rulesOf(s: Spec): Problem[] {
  assert.deepEqual(validateConfigSchema(s), [], 'the schema must accept the config');
  return checkConfigRules(s);
}

test('the base config keeps every rule', () => {
  assert.deepEqual(rulesOf(spec()), []);
});

test('schema: rlimit types are the resources of setrlimit(2)', () => {
  assert.deepEqual(schemaOf(spec((s) => { proc(s)['rlimits'] = [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }, { type: 'RLIMIT_FOO', soft: 1, hard: 1 }]; })), [
    { path: '/process/rlimits/1/type', message: 'must be a resource of setrlimit(2), such as "RLIMIT_NOFILE"' },
  ]);
});

test('schema: oomScoreAdj is -1000 to 1000', () => {
  assert.deepEqual(schemaOf(spec((s) => { proc(s)['oomScoreAdj'] = -1000; })), []);
  assert.deepEqual(schemaOf(spec((s) => { proc(s)['oomScoreAdj'] = 1001; })), [{ path: '/process/oomScoreAdj', message: 'must be at most 1000' }]);
});

test('schema: ioPriority.priority is a level 0 to 7', () => {
  assert.deepEqual(schemaOf(spec((s) => { proc(s)['ioPriority'] = { class: 'IOPRIO_CLASS_BE', priority: 8 }; })), [{ path: '/process/ioPriority/priority', message: 'must be at most 7' }]);
});

test('schema: scheduler.nice is -20 to 19', () => {
  assert.deepEqual(schemaOf(spec((s) => { proc(s)['scheduler'] = { policy: 'SCHED_OTHER', nice: -21 }; })), [{ path: '/process/scheduler/nice', message: 'must be at least -20' }]);
});

test('schema: a device cgroup rule\'s type is a, c or b, its access letters r, w, m', () => {
  assert.deepEqual(schemaOf(spec((s) => { resources(s)['devices'] = [{ allow: true, type: 'u', access: 'rwx' }]; })), [
    { path: '/linux/resources/devices/0/type', message: 'must be one of "a", "c", "b"' },
    { path: '/linux/resources/devices/0/access', message: 'must be made of the letters r, w and m' },
  ]);
});

test('schema: memory limits are bytes or -1', () => {
  assert.deepEqual(schemaOf(spec((s) => { resources(s)['memory'] = { limit: -1, swap: -2 }; })), [{ path: '/linux/resources/memory/swap', message: 'must be at least -1' }]);
});

test('schema: cpu.idle is 0 or 1', () => {
  assert.deepEqual(schemaOf(spec((s) => { resources(s)['cpu'] = { idle: 2 }; })), [{ path: '/linux/resources/cpu/idle', message: 'must be one of 0, 1' }]);
});

test('schema: a throttle device needs its rate', () => {
  assert.deepEqual(schemaOf(spec((s) => { resources(s)['blockIO'] = { throttleReadBpsDevice: [{ major: 8, minor: 0 }] }; })), [{ path: '/linux/resources/blockIO/throttleReadBpsDevice/0/rate', message: 'is required' }]);
});

test('schema: a seccomp argument index is 0 to 5', () => {
  const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }] }] };
  assert.deepEqual(schemaOf(spec((s) => { linux(s)['seccomp'] = seccomp; })), [{ path: '/linux/seccomp/syscalls/0/args/0/index', message: 'must be at most 5' }]);
});

test('schema: memoryPolicy needs its mode, personality its domain', () => {
  assert.deepEqual(schemaOf(spec((s) => { linux(s)['memoryPolicy'] = { nodes: '0' }; linux(s)['personality'] = {}; })), [
    { path: '/linux/memoryPolicy/mode', message: 'is required' },
    { path: '/linux/personality/domain', message: 'is required' },
  ]);
});

test('schema: a time offset\'s nanoseconds stay below a second', () => {
  assert.deepEqual(schemaOf(spec((s) => { linux(s)['timeOffsets'] = { monotonic: { secs: 1, nanosecs: 1_000_000_000 } }; })), [{ path: '/linux/timeOffsets/monotonic/nanosecs', message: 'must be at most 999999999' }]);
});

test('schema: an id mapping maps at least one id', () => {
  assert.deepEqual(schemaOf(spec((s) => { linux(s)['uidMappings'] = [{ containerID: 0, hostID: 1000, size: 0 }]; })), [{ path: '/linux/uidMappings/0/size', message: 'must be at least 1' }]);
});

test('schema (looser than the official one): a device fileMode may carry the file type bits podman sends', () => {
  assert.deepEqual(schemaOf(spec((s) => { linux(s)['devices'] = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 8630 }]; })), []);
});

test('rlimits: soft must not exceed hard', () => {
  assert.deepEqual(rulesOf(spec((s) => { proc(s)['rlimits'] = [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 1024 }]; })), [
    { path: '/process/rlimits/0/soft', message: 'must not exceed hard (1024): setrlimit(2) refuses it' },
  ]);
});

test('scheduler: a static priority 1 to 99 for SCHED_FIFO and SCHED_RR, none for the others', () => {
  assert.deepEqual(rulesOf(spec((s) => { proc(s)['scheduler'] = { policy: 'SCHED_FIFO', priority: 10 }; })), []);
  assert.deepEqual(rulesOf(spec((s) => { proc(s)['scheduler'] = { policy: 'SCHED_RR' }; })), [{ path: '/process/scheduler/priority', message: 'must be 1 to 99 for SCHED_RR (sched_setattr(2))' }]);
  assert.deepEqual(rulesOf(spec((s) => { proc(s)['scheduler'] = { policy: 'SCHED_BATCH', priority: 5 }; })), [
    { path: '/process/scheduler/priority', message: 'must be 0 or unset for SCHED_BATCH: only SCHED_FIFO and SCHED_RR have a static priority (sched_setattr(2))' },
  ]);
});

test('scheduler: runtime, deadline and period only for SCHED_DEADLINE, where runtime <= deadline <= period', () => {
  assert.deepEqual(rulesOf(spec((s) => { proc(s)['scheduler'] = { policy: 'SCHED_OTHER', runtime: 5000 }; })), [{ path: '/process/scheduler/runtime', message: 'is only for SCHED_DEADLINE, not SCHED_OTHER (sched_setattr(2))' }]);
  assert.deepEqual(rulesOf(spec((s) => { proc(s)['scheduler'] = { policy: 'SCHED_DEADLINE', runtime: 10_000, deadline: 20_000, period: 30_000 }; })), []);
  assert.deepEqual(rulesOf(spec((s) => { proc(s)['scheduler'] = { policy: 'SCHED_DEADLINE', runtime: 512, deadline: 20_000 }; })), [{ path: '/process/scheduler/runtime', message: 'must be at least 1024 nanoseconds for SCHED_DEADLINE (sched_setattr(2))' }]);
  assert.deepEqual(rulesOf(spec((s) => { proc(s)['scheduler'] = { policy: 'SCHED_DEADLINE', runtime: 30_000, deadline: 20_000, period: 10_000 }; })), [
    { path: '/process/scheduler/runtime', message: 'must not exceed deadline (20000) for SCHED_DEADLINE (sched_setattr(2))' },
    { path: '/process/scheduler/deadline', message: 'must not exceed period (10000) for SCHED_DEADLINE (sched_setattr(2))' },
  ]);
});

test('mounts: idmap or ridmap needs the mount\'s maps or a user namespace', () => {
  const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const mount = { destination: '/data', source: '/srv', type: 'bind', options: ['rbind', 'ridmap'] };
  assert.deepEqual(rulesOf(spec((s) => { s['mounts'] = [mount]; })), [
    { path: '/mounts/0/options', message: '"ridmap" needs uidMappings and gidMappings on the mount, or a user namespace in /linux/namespaces (config.md)' },
  ]);
  assert.deepEqual(rulesOf(spec((s) => { s['mounts'] = [{ ...mount, uidMappings: map, gidMappings: map }]; })), []);
  assert.deepEqual(rulesOf(spec((s) => {
    s['mounts'] = [mount];
    (linux(s)['namespaces'] as unknown[]).push({ type: 'user' });
    linux(s)['uidMappings'] = map;
    linux(s)['gidMappings'] = map;
  })), []);
});

test('id maps: at most 340 entries, ranges below 4294967295, no overlap (linux and mount maps alike)', () => {
  const many = Array.from({ length: 341 }, (_, i) => ({ containerID: i, hostID: 100000 + i, size: 1 }));
  const withUser = (s: Json): void => { (linux(s)['namespaces'] as unknown[]).push({ type: 'user' }); };
  assert.deepEqual(rulesOf(spec((s) => { withUser(s); linux(s)['uidMappings'] = many; linux(s)['gidMappings'] = [{ containerID: 0, hostID: 1, size: 1 }]; })), [
    { path: '/linux/uidMappings', message: 'must have at most 340 entries (the kernel\'s limit)' },
  ]);
  assert.deepEqual(rulesOf(spec((s) => {
    withUser(s);
    linux(s)['uidMappings'] = [{ containerID: 0, hostID: 100000, size: 1000 }, { containerID: 500, hostID: 200000, size: 10 }];
    linux(s)['gidMappings'] = [{ containerID: 0, hostID: 4294967000, size: 296 }];
  })), [
    { path: '/linux/uidMappings/1', message: 'its containerID range overlaps /linux/uidMappings/0 (the kernel refuses overlapping ranges)' },
    { path: '/linux/gidMappings/0', message: 'hostID + size must be at most 4294967295 (the kernel refuses the range)' },
  ]);
  assert.deepEqual(rulesOf(spec((s) => {
    s['mounts'] = [{ destination: '/m', source: '/srv', options: ['bind', 'idmap'], uidMappings: [{ containerID: 0, hostID: 0, size: 10 }, { containerID: 20, hostID: 5, size: 10 }], gidMappings: [{ containerID: 0, hostID: 0, size: 1 }] }];
  })), [{ path: '/mounts/0/uidMappings/1', message: 'its hostID range overlaps /mounts/0/uidMappings/0 (the kernel refuses overlapping ranges)' }]);
});

test('time offsets: only the boottime and monotonic clocks', () => {
  assert.deepEqual(rulesOf(spec((s) => {
    (linux(s)['namespaces'] as unknown[]).push({ type: 'time' });
    linux(s)['timeOffsets'] = { monotonic: { secs: 1 }, realtime: { secs: 1 } };
  })), [{ path: '/linux/timeOffsets/realtime', message: 'is not a clock a time namespace offsets (boottime, monotonic)' }]);
});

test('netDevices: need a network namespace, and names the kernel takes', () => {
  assert.deepEqual(rulesOf(spec((s) => { linux(s)['netDevices'] = { eth1: { name: 'ctr0' } }; })), []);
  assert.deepEqual(rulesOf(spec((s) => { linux(s)['namespaces'] = [{ type: 'pid' }]; linux(s)['netDevices'] = { eth1: {} }; })), [
    { path: '/linux/netDevices', message: 'needs a network namespace in /linux/namespaces' },
  ]);
  const bad = 'must be a network device name: 1 to 15 bytes, not "." or "..", without "/", ":" or white space (the kernel\'s dev_valid_name)';
  assert.deepEqual(rulesOf(spec((s) => { linux(s)['netDevices'] = { 'eth:1': {}, eth2: { name: 'a-name-longer-than-15' }, eth3: { name: '..' } }; })), [
    { path: '/linux/netDevices/eth:1', message: bad },
    { path: '/linux/netDevices/eth2/name', message: bad },
    { path: '/linux/netDevices/eth3/name', message: bad },
  ]);
});

test('memory: swap counts memory plus swap, so it is at least the limit; swappiness is 0 to 100', () => {
  assert.deepEqual(rulesOf(spec((s) => { resources(s)['memory'] = { limit: 67108864, swap: 134217728, swappiness: 60 }; })), []);
  assert.deepEqual(rulesOf(spec((s) => { resources(s)['memory'] = { limit: 67108864, swap: 1048576, swappiness: 101 }; })), [
    { path: '/linux/resources/memory/swap', message: 'must be at least memory.limit (67108864): it limits memory plus swap (runc: "memory+swap limit should be >= memory limit")' },
    { path: '/linux/resources/memory/swappiness', message: 'must be 0 to 100 (config-linux.md, vm.swappiness)' },
  ]);
  // -1 as a uint64 is runc's "not set".
  assert.deepEqual(rulesOf(spec((s) => { resources(s)['memory'] = { swappiness: 18446744073709551615 }; })), []);
});

test('cpu: burst within a positive quota, quota and period in the kernel\'s CFS ranges, realtime runtime within its period', () => {
  assert.deepEqual(rulesOf(spec((s) => { resources(s)['cpu'] = { quota: 50000, period: 100000, burst: 50000, realtimeRuntime: 950000, realtimePeriod: 1000000 }; })), []);
  assert.deepEqual(rulesOf(spec((s) => { resources(s)['cpu'] = { quota: 500, period: 500, burst: 600, realtimeRuntime: 2000, realtimePeriod: 1000 }; })), [
    { path: '/linux/resources/cpu/burst', message: 'must not exceed a positive quota (500) (config-linux.md)' },
    { path: '/linux/resources/cpu/quota', message: 'must be -1 (no limit), 0 (not set) or at least 1000 microseconds (the kernel\'s smallest CFS quota)' },
    { path: '/linux/resources/cpu/period', message: 'must be 1000 to 1000000 microseconds (the kernel\'s CFS period range), or 0 (not set)' },
    { path: '/linux/resources/cpu/realtimeRuntime', message: 'must not exceed realtimePeriod (1000) (the kernel refuses it)' },
  ]);
  assert.deepEqual(rulesOf(spec((s) => { resources(s)['cpu'] = { quota: -1 }; })), []);
});

test('blockIO: a weightDevice entry needs weight or leafWeight', () => {
  assert.deepEqual(rulesOf(spec((s) => { resources(s)['blockIO'] = { weightDevice: [{ major: 8, minor: 0, leafWeight: 10 }, { major: 8, minor: 16 }] }; })), [
    { path: '/linux/resources/blockIO/weightDevice/1', message: 'needs weight or leafWeight (config-linux.md)' },
  ]);
});

test('rdma: an entry needs hcaHandles or hcaObjects', () => {
  assert.deepEqual(rulesOf(spec((s) => { resources(s)['rdma'] = { mlx5_1: { hcaObjects: 10 }, mlx4_0: {} }; })), [
    { path: '/linux/resources/rdma/mlx4_0', message: 'needs hcaHandles or hcaObjects (config-linux.md)' },
  ]);
});

test('unified: each key is a CONTROLLER.PARAMETER file of the cgroup', () => {
  assert.deepEqual(rulesOf(spec((s) => { resources(s)['unified'] = { 'memory.high': '1G', 'io/max': '1', pids: '1', 'cpu.': '1' }; })), [
    { path: '/linux/resources/unified/io~1max', message: 'must be a file name of the container\'s cgroup, without "/"' },
    { path: '/linux/resources/unified/pids', message: 'must be CONTROLLER.PARAMETER, such as "memory.high" (a file of the cgroup)' },
    { path: '/linux/resources/unified/cpu.', message: 'must be CONTROLLER.PARAMETER, such as "memory.high" (a file of the cgroup)' },
  ]);
});

test('seccomp: errno values only with SCMP_ACT_ERRNO or SCMP_ACT_TRACE; listenerMetadata only with listenerPath', () => {
  // podman's profile: defaultAction SCMP_ACT_ERRNO with defaultErrnoRet 38, SCMP_ACT_ERRNO rules with errnoRet 1.
  const good = { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, syscalls: [{ names: ['bpf'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }, { names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
  assert.deepEqual(rulesOf(spec((s) => { linux(s)['seccomp'] = good; })), []);
  const bad = { defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 1, listenerMetadata: 'x', syscalls: [{ names: ['kill'], action: 'SCMP_ACT_KILL', errnoRet: 1 }] };
  assert.deepEqual(rulesOf(spec((s) => { linux(s)['seccomp'] = bad; })), [
    { path: '/linux/seccomp/defaultErrnoRet', message: 'is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not SCMP_ACT_ALLOW (config-linux.md)' },
    { path: '/linux/seccomp/listenerMetadata', message: 'must not be set without listenerPath (config-linux.md)' },
    { path: '/linux/seccomp/syscalls/0/errnoRet', message: 'is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not SCMP_ACT_KILL (config-linux.md)' },
  ]);
});

test('memoryPolicy: nodes as set_mempolicy(2) wants them for the mode, flags that go together', () => {
  const policy = (p: Json): Spec => spec((s) => { linux(s)['memoryPolicy'] = p; });
  assert.deepEqual(rulesOf(policy({ mode: 'MPOL_BIND', nodes: '0-1', flags: ['MPOL_F_STATIC_NODES', 'MPOL_F_NUMA_BALANCING'] })), []);
  assert.deepEqual(rulesOf(policy({ mode: 'MPOL_DEFAULT', nodes: '0' })), [{ path: '/linux/memoryPolicy/nodes', message: 'must be empty for MPOL_DEFAULT (set_mempolicy(2))' }]);
  assert.deepEqual(rulesOf(policy({ mode: 'MPOL_INTERLEAVE' })), [{ path: '/linux/memoryPolicy/nodes', message: 'is required for MPOL_INTERLEAVE (set_mempolicy(2))' }]);
  assert.deepEqual(rulesOf(policy({ mode: 'MPOL_PREFERRED', flags: ['MPOL_F_STATIC_NODES', 'MPOL_F_RELATIVE_NODES', 'MPOL_F_NUMA_BALANCING'] })), [
    { path: '/linux/memoryPolicy/flags', message: 'MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other (set_mempolicy(2))' },
    { path: '/linux/memoryPolicy/flags', message: 'MPOL_F_NUMA_BALANCING needs MPOL_BIND or MPOL_PREFERRED_MANY, not MPOL_PREFERRED (set_mempolicy(2))' },
    { path: '/linux/memoryPolicy/flags', message: 'MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES need nodes, which MPOL_PREFERRED here has not (set_mempolicy(2))' },
  ]);
});

test('personality: no flag is defined; intelRdt closID is a folder name', () => {
  assert.deepEqual(rulesOf(spec((s) => { linux(s)['personality'] = { domain: 'LINUX32', flags: ['ADDR_NO_RANDOMIZE'] }; linux(s)['intelRdt'] = { closID: '../x' }; })), [
    { path: '/linux/personality/flags', message: 'must be empty: config-linux.md defines no personality flag' },
    { path: '/linux/intelRdt/closID', message: 'must be a folder name in resctrl: not "." or "..", without "/"' },
  ]);
});

test('annotations: the image stop signal is a signal (a name, or a number as podman writes it), created an RFC 3339 time', () => {
  const annotated = (a: Json): Spec => spec((s) => { s['annotations'] = a; });
  assert.deepEqual(rulesOf(annotated({ 'org.opencontainers.image.stopSignal': '15', 'org.opencontainers.image.created': '2024-05-01T10:00:00Z' })), []);
  assert.deepEqual(rulesOf(annotated({ 'org.opencontainers.image.stopSignal': 'SIGRTMIN+3' })), []);
  assert.deepEqual(rulesOf(annotated({ 'org.opencontainers.image.stopSignal': 'SIGFOO', 'org.opencontainers.image.created': 'yesterday' })), [
    { path: '/annotations/org.opencontainers.image.stopSignal', message: 'must be a signal such as SIGTERM: unknown signal "SIGFOO"' },
    { path: '/annotations/org.opencontainers.image.created', message: 'must be an RFC 3339 date-time (config.md, image-spec)' },
  ]);
});
