import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { translateSpec } from '../../src/backends/proxmox-lxc/translate/translate.js';
import { sharesToCpuUnits } from '../../src/backends/proxmox-lxc/translate/translate-resources.js';
import { OPTIONS, withSpec } from './translate-helpers.js';

const MIB = 1024 * 1024;
const resources = (r: Record<string, unknown>) => withSpec({ linux: { resources: r } });

describe('translateSpec: linux.resources', () => {
  const accepted: Array<[string, Record<string, unknown>, Record<string, number>, Array<[string, string]>]> = [
    ['memory limit rounded up to MiB', { memory: { limit: 64 * MIB + 1 } }, { memory: 65 }, []],
    ['memory+swap total becomes swap', { memory: { limit: 64 * MIB, swap: 192 * MIB } }, { memory: 64, swap: 128 }, []],
    ['swap equal to the limit is no swap', { memory: { limit: 64 * MIB, swap: 64 * MIB } }, { memory: 64, swap: 0 }, []],
    ['limit -1 is no limit', { memory: { limit: -1 } }, {}, []],
    ['reservation becomes memory.low', { memory: { reservation: 32 * MIB } }, {}, [['lxc.cgroup2.memory.low', String(32 * MIB)]]],
    ['quota/period becomes cpulimit', { cpu: { quota: 50000, period: 100000 } }, { cpulimit: 0.5 }, []],
    ['cpulimit keeps 1/100000 steps, rounded up', { cpu: { quota: 1, period: 300000 } }, { cpulimit: 0.00001 }, []],
    ['quota without period uses 100000', { cpu: { quota: 250000 } }, { cpulimit: 2.5 }, []],
    ['shares 1024 becomes cpuunits 39', { cpu: { shares: 1024 } }, { cpuunits: 39 }, []],
    ['pids limit becomes cgroup2 pids.max', { pids: { limit: 100 } }, {}, [['lxc.cgroup2.pids.max', '100']]],
    ['pids limit -1 is no limit', { pids: { limit: -1 } }, {}, []],
    ['standard device list', { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 136, access: 'rwm' }, { allow: true, type: 'b', major: -1, minor: -1, access: 'm' }] }, {}, []],
    ['empty unified and blockIO', { unified: {}, blockIO: {} }, {}, []],
  ];
  for (const [name, fragment, params, raw] of accepted) {
    it(`accepts ${name}`, () => {
      const result = translateSpec(resources(fragment), OPTIONS);
      assert.deepEqual(result.problems, []);
      const created = result.plan?.createParams ?? {};
      for (const key of ['memory', 'swap', 'cpulimit', 'cpuunits']) assert.equal(created[key], params[key], key);
      assert.deepEqual(result.plan?.rawLxc.filter(([key]) => key.startsWith('lxc.cgroup2.')), raw);
    });
  }

  const refused: Array<[string, Record<string, unknown>, string, string]> = [
    ['memory below 16 MiB', { memory: { limit: 15 * MIB } }, '/linux/resources/memory/limit', `${15 * MIB} bytes is below Proxmox's minimum memory of 16 MiB`],
    ['unlimited swap', { memory: { limit: 64 * MIB, swap: -1 } }, '/linux/resources/memory/swap', 'unlimited swap (-1) cannot be expressed: Proxmox needs a swap size in MiB'],
    ['swap without limit', { memory: { swap: 64 * MIB } }, '/linux/resources/memory/swap', 'is memory+swap and needs memory.limit to be set'],
    ['swap below limit', { memory: { limit: 64 * MIB, swap: 32 * MIB } }, '/linux/resources/memory/swap', 'is memory+swap and must not be smaller than memory.limit'],
    ['swappiness', { memory: { swappiness: 10 } }, '/linux/resources/memory/swappiness', 'swappiness does not exist on cgroup v2'],
    ['cpulimit above 8192', { cpu: { quota: 8193 * 100000, period: 100000 } }, '/linux/resources/cpu/quota', "quota/period is 8193 CPUs, above Proxmox's cpulimit maximum of 8192"],
    ['cpuset', { cpu: { cpus: '0-1' } }, '/linux/resources/cpu/cpus', 'cpusets are not supported by the proxmox-lxc backend'],
    ['extra device allow', { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }] }, '/linux/resources/devices/1', 'allows a device outside the standard list (null, zero, full, random, urandom, tty, console, ptmx, pts)'],
    ['single device deny', { devices: [{ allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' }] }, '/linux/resources/devices/0', "only the deny-all rule is supported; the container gets Proxmox's device list"],
    ['blockIO weight', { blockIO: { weight: 100 } }, '/linux/resources/blockIO', 'block I/O limits are not supported by the proxmox-lxc backend'],
    ['hugepages', { hugepageLimits: [{ pageSize: '2MB', limit: 1 }] }, '/linux/resources/hugepageLimits', 'hugepage limits are not supported by the proxmox-lxc backend'],
    ['network', { network: { classID: 1 } }, '/linux/resources/network', 'network classes and priorities are not supported by the proxmox-lxc backend'],
    ['rdma', { rdma: { mlx5_0: { hcaHandles: 1 } } }, '/linux/resources/rdma', 'RDMA limits are not supported by the proxmox-lxc backend'],
    ['unified', { unified: { 'memory.high': '1' } }, '/linux/resources/unified', 'unified cgroup v2 settings are not supported by the proxmox-lxc backend'],
  ];
  for (const [name, fragment, path, message] of refused) {
    it(`refuses ${name}`, () => {
      assert.deepEqual(translateSpec(resources(fragment), OPTIONS).problems, [{ path, message }]);
    });
  }

  it('converts shares as runc does: 2 -> 1, 262144 -> 10000', () => {
    assert.equal(sharesToCpuUnits(2), 1);
    assert.equal(sharesToCpuUnits(262144), 10000);
    assert.equal(sharesToCpuUnits(512), 1 + Math.floor((510 * 9999) / 262142));
  });
});
