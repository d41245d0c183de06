/**
 * Real containerd and ctr drive exec, ps and pause/resume through proxrun with the proxmox-lxc
 * backend on the Proxmox VE simulator (CLI transport, real LXC). containerd always execs with
 * `--process FILE --detach --pid-file`, deletes the process file as soon as proxrun returns, and
 * reaps the pid it reads: so output reaching ctr and ctr's exit code (5, 143) prove that the
 * detached representative process (lxc-attach) lives as long as the exec and exits with its status.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startContainerd, type ContainerdInstance, type CtrRunSpec } from '../helpers/containerd.js';
import { busyboxRootfs } from '../helpers/rootfs-cache.js';
import { describeResult, pollFor } from '../helpers/exec.js';
import { startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { BACKEND_ANNOTATION, requireE2eEnvironment, runtimeUnderTest } from './e2e-settings.js';

const VMID_RANGE: readonly [number, number] = [630000, 634999];

describe('ctr exec, ps, pause → proxrun → proxmox-lxc (simulator)', { timeout: 600_000 }, () => {
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
  });

  after(async () => {
    // The simulator stops whatever failed before it.
    let report: Awaited<ReturnType<ContainerdInstance['stop']>> | undefined;
    let destroyed: number[] = [];
    try {
      report = containerd === undefined ? undefined : await containerd.stop();
    } finally {
      if (previousConfig === undefined) delete process.env['PROXRUN_CONFIG'];
      else process.env['PROXRUN_CONFIG'] = previousConfig;
      if (sim !== undefined) destroyed = (await sim.stop()).destroyed;
    }
    assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
    if (report !== undefined) assert.deepEqual(report, { containers: [], processes: [], mounts: [] }, 'containerd left something behind');
  });

  test('ctr task exec: output and exit codes 5 and 143 come back; ps lists the exec while it runs; pause and resume', async () => {
    const ctr = containerd.ctr;
    const started = await ctr.runDetached(spec('execs', ['/bin/sleep', '1000']));
    assert.equal(started.exitCode, 0, describeResult(started));
    await ctr.waitForTaskStatus('execs', 'RUNNING', 60_000);

    // The exec ends only once ctr has shown both lines: `ctr task exec` (containerd 1.6) deletes the
    // process as soon as it has exited, which cancels its readers with output still in flight
    // (fixed upstream by containerd PR 13931). A second exec makes the file it waits for.
    const running = ctr.startTaskExec('execs', 'five', ['/bin/sh', '-c', 'echo "in $(hostname) as $(id -u)"; echo err >&2; while [ ! -e /tmp/five-go ]; do usleep 20000; done; exit 5'], 120_000);
    await pollFor(() => (running.stdoutSoFar().endsWith('\n') && running.stderrSoFar() === 'err\n' ? true : undefined), {
      timeoutMs: 60_000,
      description: `the exec's two lines on ctr (so far ${JSON.stringify(running.stdoutSoFar())}, ${JSON.stringify(running.stderrSoFar())})`,
    });
    const go = await ctr.taskExec('execs', 'go', ['/bin/touch', '/tmp/five-go']);
    assert.equal(go.exitCode, 0, describeResult(go));
    const five = await running.finished;
    assert.equal(five.exitCode, 5, `${describeResult(five)}\n${containerd.log()}`);
    assert.match(five.stdout, /^in \S+ as 0\n$/);
    assert.equal(five.stderr, 'err\n');

    const signalled = await ctr.taskExec('execs', 'term', ['/bin/sh', '-c', 'kill -TERM $$']);
    assert.equal(signalled.exitCode, 143, describeResult(signalled));

    const before = await ctr.taskPids('execs');
    assert.ok(before.length >= 2, `ctr task ps shows the CT init and the app: ${before.join(' ')}`);
    for (const pid of before) assert.ok(fs.existsSync(`/proc/${pid}`), `pid ${pid} from ctr task ps is a live host process`);

    const paused = await ctr.taskPause('execs');
    assert.equal(paused.exitCode, 0, describeResult(paused));
    await ctr.waitForTaskStatus('execs', 'PAUSED', 60_000);
    const resumed = await ctr.taskResume('execs');
    assert.equal(resumed.exitCode, 0, describeResult(resumed));
    await ctr.waitForTaskStatus('execs', 'RUNNING', 60_000);

    const after = await ctr.taskExec('execs', 'after', ['/bin/echo', 'still here']);
    assert.equal(after.exitCode, 0, describeResult(after));
    assert.equal(after.stdout, 'still here\n');

    const killed = await ctr.taskKill('execs', { signal: 'SIGKILL' });
    assert.equal(killed.exitCode, 0, describeResult(killed));
    assert.equal(await ctr.waitForExit('execs', { timeoutMs: 30_000 }), 137);
    assert.equal((await ctr.taskDelete('execs')).exitCode, 0);
    assert.equal((await ctr.containerRm('execs')).exitCode, 0);
  });
});
