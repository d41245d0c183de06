/**
 * Real containerd and ctr drive proxrun with the proxmox-vm backend on the Proxmox VE simulator,
 * which boots the VM with real QEMU (TCG): the payload's stdout and stderr reach ctr apart, its
 * exit code is ctr's, `ctr task kill -s SIGKILL` stops the VM and the task ends with 137, and
 * nothing is left in Proxmox, on the storage, under /run/proxrun-private/vm, as a QEMU process or in
 * containerd. containerd (and so the shim and proxrun) gets PROXRUN_CONFIG. One VM at a time.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startContainerd, type ContainerdInstance, type CtrRunSpec } from '../helpers/containerd.js';
import { busyboxRootfs } from '../helpers/rootfs-cache.js';
import { describeResult } from '../helpers/exec.js';
import { startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { assertAllRequestsPassedSchema } from '../pve-sim/schema-audit.js';
import { BACKEND_ANNOTATION, requireE2eEnvironment, runtimeUnderTest } from './e2e-settings.js';

const VMID_RANGE: readonly [number, number] = [671000, 671999];
import { VM_RUN_BASE } from '../../src/backends/proxmox-vm/settings.js';

describe('ctr → proxrun → proxmox-vm (simulator, real QEMU)', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let containerd: ContainerdInstance;
  let rootfs: string;
  let vmDirsBefore: Set<string>;
  const previousConfig = process.env['PROXRUN_CONFIG'];

  const vmVmids = (): number[] => {
    try {
      return fs.readdirSync(path.join(sim.pveDir, 'nodes', sim.node, 'qemu-server')).filter((n) => /^\d+\.conf$/.test(n)).map((n) => Number.parseInt(n, 10));
    } catch {
      return [];
    }
  };
  const vmDirs = (): string[] => (fs.existsSync(VM_RUN_BASE) ? fs.readdirSync(VM_RUN_BASE) : []);
  const qemuProcesses = (): string[] =>
    spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line.includes('qemu-system') && line.includes(sim.root));

  const spec = (id: string, args: readonly string[]): CtrRunSpec => ({
    runtime: runtimeUnderTest,
    rootfs,
    id: `${id}-${process.pid}`,
    args,
    annotations: { [BACKEND_ANNOTATION]: 'proxmox-vm' },
    timeoutMs: 180_000,
  });

  before(async () => {
    await requireE2eEnvironment(['containerd', 'ctr', 'containerd-shim-runc-v2']);
    rootfs = await busyboxRootfs();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE, timeoutSeconds: 120 });
    vmDirsBefore = new Set(vmDirs());
    process.env['PROXRUN_CONFIG'] = sim.configFile;
    containerd = await startContainerd();
  });

  afterEach(async () => {
    const leftover = await containerd.ctr.removeAll();
    assert.deepEqual(leftover, [], `containers left behind: ${leftover.join(', ')}`);
    assert.deepEqual(vmVmids(), [], 'VMs left in Proxmox');
    assert.deepEqual(sim.volumes(), [], 'disks left on the storage');
    assert.deepEqual(vmDirs().filter((d) => !vmDirsBefore.has(d)), [], `folders left under ${VM_RUN_BASE}`);
    assert.deepEqual(qemuProcesses(), [], 'QEMU processes left');
  });

  after(async () => {
    const report = containerd === undefined ? undefined : await containerd.stop();
    if (previousConfig === undefined) delete process.env['PROXRUN_CONFIG'];
    else process.env['PROXRUN_CONFIG'] = previousConfig;
    if (sim !== undefined) {
      const vms = vmVmids();
      for (const vmid of vms) {
        sim.tool('qm', ['stop', String(vmid)]);
        sim.tool('qm', ['destroy', String(vmid), '--purge', '1']);
      }
      try {
        assertAllRequestsPassedSchema(sim.root);
      } finally {
        await sim.stop();
      }
      assert.deepEqual(vms, [], 'VMs were left in the simulator');
    }
    if (report !== undefined) assert.deepEqual(report, { containers: [], processes: [], mounts: [] }, 'containerd left something behind');
  });

  test('ctr run: stdout and stderr come back apart, exit code 3', async () => {
    const result = await containerd.ctr.run(spec('vm-exit3', ['/bin/sh', '-c', 'echo out; echo err >&2; exit 3']));
    assert.equal(result.exitCode, 3, `${describeResult(result)}\n${containerd.log()}`);
    assert.equal(result.stdout, 'out\n');
    assert.equal(result.stderr, 'err\n');
  });

  test('ctr task kill (SIGTERM) reaches the payload in the guest and the task ends with 143', async () => {
    const ctr = containerd.ctr;
    const run = spec('vm-term', ['/bin/sleep', '1000']);
    const started = await ctr.runDetached(run);
    assert.equal(started.exitCode, 0, `${describeResult(started)}\n${containerd.log()}`);
    await ctr.waitForTaskStatus(run.id, 'RUNNING', 60_000);
    const killed = await ctr.taskKill(run.id);
    assert.equal(killed.exitCode, 0, describeResult(killed));
    assert.equal(await ctr.waitForExit(run.id, { timeoutMs: 60_000 }), 143);
    assert.equal((await ctr.taskDelete(run.id)).exitCode, 0);
    assert.equal((await ctr.containerRm(run.id)).exitCode, 0);
  });

  test('ctr task kill -s SIGKILL stops the VM and the task ends with 137', async () => {
    const ctr = containerd.ctr;
    const run = spec('vm-sigkill', ['/bin/sleep', '1000']);
    const started = await ctr.runDetached(run);
    assert.equal(started.exitCode, 0, `${describeResult(started)}\n${containerd.log()}`);
    await ctr.waitForTaskStatus(run.id, 'RUNNING', 60_000);
    const killed = await ctr.taskKill(run.id, { signal: 'SIGKILL' });
    assert.equal(killed.exitCode, 0, describeResult(killed));
    assert.equal(await ctr.waitForExit(run.id, { timeoutMs: 60_000 }), 137);
    assert.equal((await ctr.taskDelete(run.id)).exitCode, 0);
    assert.equal((await ctr.containerRm(run.id)).exitCode, 0);
  });
});
