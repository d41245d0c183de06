/**
 * OCI `linux.resources` -> Proxmox's memory/swap/cpulimit/cpuunits and raw `lxc.cgroup2.*` keys.
 * Proxmox VE 9 runs cgroup v2 only, so the v2 keys are emitted (a simulator host on cgroup v1
 * would need `lxc.cgroup.*` instead; that is the simulator's concern, not this translation's).
 */
import type { PveParams } from '../../../proxmox/client.js';
import { joinPointer } from '../../../oci/problems.js';
import type { LinuxCpu, LinuxDeviceRule, LinuxMemory, LinuxResources } from '../../../oci/spec.js';
import type { Findings } from '../../shared/findings.js';

const MIB = 1024 * 1024;
/** Proxmox's smallest `memory` (MiB). */
export const MIN_MEMORY_MIB = 16;
/** Proxmox's largest `cpulimit` (cores). */
export const MAX_CPULIMIT = 8192;
/** Proxmox writes cpulimit as `cpu.max = limit*100000 100000`, so 1/100000 of a core is the finest step. */
const CPULIMIT_STEPS = 100_000;

export interface ResourceTranslation {
  params: PveParams;
  rawLxc: Array<[string, string]>;
}

function mibRoundedUp(bytes: number): number {
  return Math.ceil(bytes / MIB);
}

function translateMemory(memory: LinuxMemory, findings: Findings, out: ResourceTranslation): void {
  const base = '/linux/resources/memory';
  const limit = memory.limit !== undefined && memory.limit >= 0 ? memory.limit : undefined;
  if (limit !== undefined) {
    const mib = mibRoundedUp(limit);
    if (mib < MIN_MEMORY_MIB) findings.refuse(`${base}/limit`, `${limit} bytes is below Proxmox's minimum memory of ${MIN_MEMORY_MIB} MiB`);
    else out.params.memory = mib;
  }
  if (memory.swap !== undefined) {
    if (memory.swap === -1) findings.refuse(`${base}/swap`, 'unlimited swap (-1) cannot be expressed: Proxmox needs a swap size in MiB');
    else if (limit === undefined) findings.refuse(`${base}/swap`, 'is memory+swap and needs memory.limit to be set');
    else if (memory.swap < limit) findings.refuse(`${base}/swap`, 'is memory+swap and must not be smaller than memory.limit');
    else out.params.swap = mibRoundedUp(memory.swap - limit);
  }
  if (memory.reservation !== undefined && memory.reservation >= 0) out.rawLxc.push(['lxc.cgroup2.memory.low', String(memory.reservation)]);
  if (memory.kernel !== undefined) findings.refuse(`${base}/kernel`, 'kernel memory limits do not exist on cgroup v2');
  if (memory.kernelTCP !== undefined) findings.refuse(`${base}/kernelTCP`, 'kernel TCP memory limits do not exist on cgroup v2');
  if (memory.swappiness !== undefined) findings.refuse(`${base}/swappiness`, 'swappiness does not exist on cgroup v2');
  if (memory.disableOOMKiller === true) findings.refuse(`${base}/disableOOMKiller`, 'the OOM killer cannot be disabled on cgroup v2');
}

/** runc's conversion of cgroup v1 cpu.shares (2..262144) to cgroup v2 cpu.weight (1..10000). */
export function sharesToCpuUnits(shares: number): number {
  return Math.floor(1 + ((shares - 2) * 9999) / 262142);
}

function translateCpu(cpu: LinuxCpu, findings: Findings, out: ResourceTranslation): void {
  const base = '/linux/resources/cpu';
  if (cpu.quota !== undefined && cpu.quota > 0) {
    const period = cpu.period !== undefined && cpu.period > 0 ? cpu.period : 100_000;
    const steps = Math.ceil((cpu.quota * CPULIMIT_STEPS) / period);
    const cpulimit = steps / CPULIMIT_STEPS;
    if (cpulimit > MAX_CPULIMIT) findings.refuse(`${base}/quota`, `quota/period is ${cpulimit} CPUs, above Proxmox's cpulimit maximum of ${MAX_CPULIMIT}`);
    else out.params.cpulimit = cpulimit;
  }
  if (cpu.shares !== undefined && cpu.shares > 0) {
    if (cpu.shares < 2 || cpu.shares > 262144) findings.refuse(`${base}/shares`, 'must be between 2 and 262144');
    else out.params.cpuunits = sharesToCpuUnits(cpu.shares);
  }
  if (cpu.cpus !== undefined && cpu.cpus !== '') findings.refuse(`${base}/cpus`, 'cpusets are not supported by the proxmox-lxc backend');
  if (cpu.mems !== undefined && cpu.mems !== '') findings.refuse(`${base}/mems`, 'memory nodes are not supported by the proxmox-lxc backend');
  if (cpu.burst !== undefined && cpu.burst > 0) findings.refuse(`${base}/burst`, 'CPU burst is not supported by the proxmox-lxc backend');
  if (cpu.realtimeRuntime !== undefined && cpu.realtimeRuntime !== 0) findings.refuse(`${base}/realtimeRuntime`, 'realtime scheduling does not exist on cgroup v2');
  if (cpu.realtimePeriod !== undefined && cpu.realtimePeriod !== 0) findings.refuse(`${base}/realtimePeriod`, 'realtime scheduling does not exist on cgroup v2');
  if (cpu.idle !== undefined && cpu.idle !== 0) findings.refuse(`${base}/idle`, 'the idle scheduling policy is not supported by the proxmox-lxc backend');
}

/** A device rule that denies everything: what every runtime puts first. */
function isDenyAll(rule: LinuxDeviceRule): boolean {
  return !rule.allow && (rule.type === undefined || rule.type === 'a') && rule.major === undefined && rule.minor === undefined
    && (rule.access === undefined || rule.access === 'rwm');
}

/**
 * The devices runc, crun, containerd and podman allow by default, which a Proxmox container
 * allows too: null, zero, full, random, urandom, tty, console, ptmx, the pts devices, and mknod
 * of any character or block device. `null` stands for a wildcard major or minor.
 */
const STANDARD_DEVICE_ALLOWS: ReadonlyArray<{ type: 'c' | 'b'; major: number | null; minor: number | null; access: string }> = [
  { type: 'c', major: 1, minor: 3, access: 'rwm' },
  { type: 'c', major: 1, minor: 5, access: 'rwm' },
  { type: 'c', major: 1, minor: 7, access: 'rwm' },
  { type: 'c', major: 1, minor: 8, access: 'rwm' },
  { type: 'c', major: 1, minor: 9, access: 'rwm' },
  { type: 'c', major: 5, minor: 0, access: 'rwm' },
  { type: 'c', major: 5, minor: 1, access: 'rwm' },
  { type: 'c', major: 5, minor: 2, access: 'rwm' },
  { type: 'c', major: 136, minor: null, access: 'rwm' },
  { type: 'c', major: null, minor: null, access: 'm' },
  { type: 'b', major: null, minor: null, access: 'm' },
];

function wildcard(value: number | undefined): number | null {
  return value === undefined || value === -1 ? null : value;
}

function isStandardAllow(rule: LinuxDeviceRule): boolean {
  const access = rule.access ?? 'rwm';
  return STANDARD_DEVICE_ALLOWS.some((std) => std.type === rule.type && std.major === wildcard(rule.major)
    && std.minor === wildcard(rule.minor) && [...access].every((letter) => std.access.includes(letter)));
}

function translateDevices(rules: readonly LinuxDeviceRule[], findings: Findings): void {
  rules.forEach((rule, index) => {
    if (isDenyAll(rule)) return;
    const at = joinPointer('/linux/resources/devices', index);
    if (!rule.allow) findings.refuse(at, 'only the deny-all rule is supported; the container gets Proxmox\'s device list');
    else if (!isStandardAllow(rule)) findings.refuse(at, 'allows a device outside the standard list (null, zero, full, random, urandom, tty, console, ptmx, pts)');
  });
}

function isEmptyObject(value: object | undefined): boolean {
  return value === undefined || Object.keys(value).length === 0;
}

export function translateResources(resources: LinuxResources | undefined, findings: Findings): ResourceTranslation {
  const out: ResourceTranslation = { params: {}, rawLxc: [] };
  if (resources === undefined) return out;
  if (resources.memory !== undefined) translateMemory(resources.memory, findings, out);
  if (resources.cpu !== undefined) translateCpu(resources.cpu, findings, out);
  if (resources.pids !== undefined && resources.pids.limit > 0) out.rawLxc.push(['lxc.cgroup2.pids.max', String(resources.pids.limit)]);
  translateDevices(resources.devices ?? [], findings);
  const base = '/linux/resources';
  if (!isEmptyObject(resources.blockIO)) findings.refuse(`${base}/blockIO`, 'block I/O limits are not supported by the proxmox-lxc backend');
  if ((resources.hugepageLimits ?? []).length > 0) findings.refuse(`${base}/hugepageLimits`, 'hugepage limits are not supported by the proxmox-lxc backend');
  if (!isEmptyObject(resources.network)) findings.refuse(`${base}/network`, 'network classes and priorities are not supported by the proxmox-lxc backend');
  if (!isEmptyObject(resources.rdma)) findings.refuse(`${base}/rdma`, 'RDMA limits are not supported by the proxmox-lxc backend');
  if (!isEmptyObject(resources.unified)) findings.refuse(`${base}/unified`, 'unified cgroup v2 settings are not supported by the proxmox-lxc backend');
  return out;
}
