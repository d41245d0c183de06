/**
 * Real containerd and ctr drive proxrun with the proxmox-lxc backend on the Proxmox VE simulator
 * (CLI transport, real LXC): the app's stdout and stderr reach ctr apart, its exit code is ctr's,
 * `ctr task kill` ends a `sleep` with 143 (SIGTERM) or 137 (SIGKILL), `ctr run --seccomp` runs
 * under containerd's default profile, and nothing is left in
 * Proxmox, LXC or containerd. containerd (and so the shim and proxrun) gets PROXRUN_CONFIG.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startContainerd, type ContainerdInstance, type CtrRunSpec } from '../helpers/containerd.js';
import { busyboxRootfs } from '../helpers/rootfs-cache.js';
import { describeResult } from '../helpers/exec.js';
import { startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { assertAllRequestsPassedSchema } from '../pve-sim/schema-audit.js';
import { BACKEND_ANNOTATION, requireE2eEnvironment, runtimeUnderTest } from './e2e-settings.js';

const VMID_RANGE: readonly [number, number] = [610000, 619999];

describe('ctr → proxrun → proxmox-lxc (simulator)', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let containerd: ContainerdInstance;
  let rootfs: string;
  const previousConfig = process.env['PROXRUN_CONFIG'];

  const spec = (id: string, args: readonly string[]): CtrRunSpec => ({
    runtime: runtimeUnderTest,
    rootfs,
    id,
    args,
    annotations: { [BACKEND_ANNOTATION]: 'proxmox-lxc' },
    timeoutMs: 120_000,
  });

  before(async () => {
    await requireE2eEnvironment(['containerd', 'ctr', 'containerd-shim-runc-v2']);
    rootfs = await busyboxRootfs();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE });
    process.env['PROXRUN_CONFIG'] = sim.configFile;
    containerd = await startContainerd();
  });

  afterEach(async () => {
    const leftover = await containerd.ctr.removeAll();
    assert.deepEqual(leftover, [], `containers left behind: ${leftover.join(', ')}`);
    assert.deepEqual(sim.ctVmids(), [], 'CTs left in Proxmox');
    assert.deepEqual(sim.lxcContainers(), [], 'LXC containers left');
    assert.deepEqual(sim.templates(), [], 'templates left');
    assert.deepEqual(sim.volumes(), [], 'volumes left');
  });

  after(async () => {
    const report = containerd === undefined ? undefined : await containerd.stop();
    if (previousConfig === undefined) delete process.env['PROXRUN_CONFIG'];
    else process.env['PROXRUN_CONFIG'] = previousConfig;
    if (sim !== undefined) {
      assertAllRequestsPassedSchema(sim.root);
      const { destroyed } = await sim.stop();
      assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
    }
    if (report !== undefined) assert.deepEqual(report, { containers: [], processes: [], mounts: [] }, 'containerd left something behind');
  });

  test('stdout, stderr and exit code 3 come back apart', async () => {
    const result = await containerd.ctr.run(spec('exit3', ['/bin/sh', '-c', 'echo out; echo err >&2; exit 3']));
    assert.equal(result.exitCode, 3, `${describeResult(result)}\n${containerd.log()}`);
    assert.equal(result.stdout, 'out\n');
    assert.equal(result.stderr, 'err\n');
  });

  test('ctr task kill (SIGTERM) ends a detached sleep with 143', async () => {
    const ctr = containerd.ctr;
    const started = await ctr.runDetached(spec('term', ['/bin/sleep', '1000']));
    assert.equal(started.exitCode, 0, describeResult(started));
    await ctr.waitForTaskStatus('term', 'RUNNING', 60_000);
    const killed = await ctr.taskKill('term');
    assert.equal(killed.exitCode, 0, describeResult(killed));
    assert.equal(await ctr.waitForExit('term', { timeoutMs: 30_000 }), 143);
    assert.equal((await ctr.taskDelete('term')).exitCode, 0);
    assert.equal((await ctr.containerRm('term')).exitCode, 0);
  });

  test("ctr run --seccomp (nerdctl's default): containerd's profile is enforced in the CT, output and exit code come back", async () => {
    const script = 'grep "^Seccomp:" /proc/self/status; grep "^CapBnd:" /proc/self/status; echo out; echo err >&2; exit 4';
    const result = await containerd.ctr.run({ ...spec('seccomp', ['/bin/sh', '-c', script]), flags: ['--seccomp'] });
    assert.equal(result.exitCode, 4, `${describeResult(result)}\n${containerd.log()}`);
    // containerd's default capabilities (chown dac_override fowner fsetid kill setgid setuid setpcap
    // net_bind_service net_raw sys_chroot mknod audit_write setfcap), the launcher's own dropped again.
    assert.equal(result.stdout, 'Seccomp:\t2\nCapBnd:\t00000000a80425fb\nout\n');
    assert.equal(result.stderr, 'err\n');
  });

  test('ctr task kill -s SIGKILL ends a detached sleep with 137', async () => {
    const ctr = containerd.ctr;
    const started = await ctr.runDetached(spec('sigkill', ['/bin/sleep', '1000']));
    assert.equal(started.exitCode, 0, describeResult(started));
    await ctr.waitForTaskStatus('sigkill', 'RUNNING', 60_000);
    const killed = await ctr.taskKill('sigkill', { signal: 'SIGKILL' });
    assert.equal(killed.exitCode, 0, describeResult(killed));
    assert.equal(await ctr.waitForExit('sigkill', { timeoutMs: 30_000 }), 137);
    assert.equal((await ctr.taskDelete('sigkill')).exitCode, 0);
    assert.equal((await ctr.containerRm('sigkill')).exitCode, 0);
  });
});
