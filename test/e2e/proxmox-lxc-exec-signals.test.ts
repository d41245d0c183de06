/**
 * Signals to a detached exec through real containerd and ctr, with the proxmox-lxc backend on the
 * Proxmox VE simulator (CLI transport, real LXC). The shim runs `proxrun exec --detach --pid-file`
 * and then signals that pid with kill(2) (`ctr task kill --exec-id`): the signal must reach the
 * process inside the CT, the exec's status must come back to ctr (the trap's status, 128+N), and
 * nothing of the exec may remain, in the CT or on the host, also when the pid is SIGKILLed.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startContainerd, type ContainerdInstance, type CtrRunSpec } from '../helpers/containerd.js';
import { busyboxRootfs } from '../helpers/rootfs-cache.js';
import { describeResult, pollFor, startCommand, type RunningCommand } from '../helpers/exec.js';
import { startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { BACKEND_ANNOTATION, requireE2eEnvironment, runtimeUnderTest } from './e2e-settings.js';

const VMID_RANGE: readonly [number, number] = [820000, 824999];
const CT = 'execsig';

interface Proc {
  readonly pid: number;
  /** In a child pid namespace (NSpid has more than one number): inside the CT. */
  readonly inCt: boolean;
  readonly rssKiB: number;
  readonly args: string;
}

function readProc(pid: number): Proc | undefined {
  try {
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    if (/^State:\s+Z/m.test(status)) return undefined;
    const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
    const rss = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? '0');
    return { pid, inCt: nspid.length > 1, rssKiB: rss, args };
  } catch {
    return undefined;
  }
}

function parentOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number);
  } catch {
    return [];
  }
}

/**
 * The host processes of an exec, from its process in the CT: lxc-attach (its parent), the
 * stand-in (lxc-attach's parent) and the stand-in's watcher. The exec's argv is not on their
 * command lines (the launcher's input travels in the environment), so they are found this way.
 */
function hostProcessesOf(app: Proc): Proc[] {
  const lxcAttach = parentOf(app.pid);
  const standin = parentOf(lxcAttach);
  return [standin, ...childrenOf(standin)].map(readProc).filter((p): p is Proc => p !== undefined && !p.inCt);
}

/** Live (non-zombie) processes, on the host or in a CT, whose argv mentions `marker`. */
function processesWith(marker: string): Proc[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)
    .map((name) => readProc(Number(name)))
    .filter((p): p is Proc => p !== undefined && p.args.includes(marker));
}

describe('ctr task kill --exec-id → proxrun exec stand-in → process in a proxmox-lxc CT (simulator)', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let containerd: ContainerdInstance;
  let rootfs: string;
  const previousConfig = process.env['PROXRUN_CONFIG'];
  const running: RunningCommand[] = [];

  const spec = (id: string, args: readonly string[]): CtrRunSpec => ({
    runtime: runtimeUnderTest,
    rootfs,
    id,
    args,
    annotations: { [BACKEND_ANNOTATION]: 'proxmox-lxc' },
    timeoutMs: 120_000,
  });

  /**
   * `ctr task exec --exec-id EXEC CT sh -c SCRIPT MARKER` in the background, once it runs in the CT
   * and, with `ready`, once its first stdout line says its trap is set: a signal that comes earlier
   * meets no handler and ends the shell (as it would under runc). SigCgt in /proc/PID/status cannot
   * tell: busybox `sh -c` catches SIGINT from its start, and dies of it until a trap is set.
   */
  async function startExec(execId: string, script: string, marker: string, ready = false): Promise<{ ctr: RunningCommand; app: Proc }> {
    const ctr = startCommand(containerd.ctr.argv(['task', 'exec', '--exec-id', execId, CT, '/bin/sh', '-c', script, marker]), { timeoutMs: 120_000 });
    running.push(ctr);
    // The exec's own program, past the in-CT wrapper (/.proxrun/busybox) that execs it.
    const app = await pollFor(() => processesWith(marker).find((p) => p.inCt && !p.args.startsWith('/.proxrun/')), {
      timeoutMs: 60_000,
      description: `exec ${execId} running in the CT (ctr so far: ${ctr.stderrSoFar()})`,
    });
    if (ready) {
      await pollFor(() => (ctr.stdoutSoFar().startsWith('ready\n') ? true : undefined), {
        timeoutMs: 60_000,
        description: `exec ${execId} to set its trap (stdout so far: ${JSON.stringify(ctr.stdoutSoFar())})`,
      });
    }
    return { ctr, app };
  }

  /**
   * Lets exec `execId` end once ctr has shown `stdout` and `stderr`: its script waits for
   * /tmp/EXEC-go, made here by a second exec. `ctr task exec` (containerd 1.6) deletes an exited
   * exec at once, which cancels its own readers with output still in flight (fixed upstream by
   * containerd PR 13931), so output written just before the exit could be lost on a busy machine.
   */
  async function endWhenShown(ctr: RunningCommand, execId: string, stdout: string, stderr = ''): Promise<void> {
    await pollFor(() => (ctr.stdoutSoFar() === stdout && ctr.stderrSoFar() === stderr ? true : undefined), {
      timeoutMs: 60_000,
      description: `exec ${execId}'s output on ctr (so far ${JSON.stringify(ctr.stdoutSoFar())}, ${JSON.stringify(ctr.stderrSoFar())})`,
    });
    const go = await containerd.ctr.exec(['task', 'exec', '--exec-id', `${execId}-go`, CT, '/bin/touch', `/tmp/${execId}-go`]);
    assert.equal(go.exitCode, 0, describeResult(go));
  }

  async function killExec(execId: string, signal: string): Promise<void> {
    const r = await containerd.ctr.exec(['task', 'kill', '--exec-id', execId, '-s', signal, CT]);
    assert.equal(r.exitCode, 0, describeResult(r));
  }

  async function assertNothingLeft(marker: string, host: readonly Proc[] = []): Promise<void> {
    const left = (): Proc[] => [...processesWith(marker), ...host.map((p) => readProc(p.pid)).filter((p): p is Proc => p !== undefined && p.args === host.find((h) => h.pid === p.pid)?.args)];
    await pollFor(() => (left().length === 0 ? true : undefined), {
      timeoutMs: 60_000,
      description: `nothing of ${marker} left: ${left().map((p) => `${p.pid} ${p.args.slice(0, 60)}`).join('; ')}`,
    });
    const cgroupPids = await containerd.ctr.taskPids(CT);
    for (const pid of cgroupPids) {
      const args = readProc(pid)?.args ?? '';
      assert.ok(!args.includes(marker), `pid ${pid} in the CT's cgroup still runs the exec: ${args}`);
    }
  }

  before(async () => {
    await requireE2eEnvironment(['containerd', 'ctr', 'containerd-shim-runc-v2']);
    rootfs = await busyboxRootfs();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE });
    process.env['PROXRUN_CONFIG'] = sim.configFile;
    containerd = await startContainerd();
    const started = await containerd.ctr.runDetached(spec(CT, ['/bin/sleep', '100000']));
    assert.equal(started.exitCode, 0, describeResult(started));
    await containerd.ctr.waitForTaskStatus(CT, 'RUNNING', 60_000);
  });

  afterEach(() => {
    for (const ctr of running.splice(0)) ctr.kill('SIGKILL');
  });

  after(async () => {
    for (const ctr of running.splice(0)) ctr.kill('SIGKILL');
    let leftover: string[] = [];
    let report: Awaited<ReturnType<ContainerdInstance['stop']>> | undefined;
    let destroyed: number[] = [];
    try {
      if (containerd !== undefined) {
        const ctr = containerd.ctr;
        if ((await ctr.taskKill(CT, { signal: 'SIGKILL' })).exitCode === 0) {
          await ctr.waitForExit(CT, { timeoutMs: 30_000 });
          await ctr.taskDelete(CT);
          await ctr.containerRm(CT);
        }
        leftover = await ctr.removeAll();
        report = await containerd.stop();
      }
    } finally {
      if (previousConfig === undefined) delete process.env['PROXRUN_CONFIG'];
      else process.env['PROXRUN_CONFIG'] = previousConfig;
      if (sim !== undefined) destroyed = (await sim.stop()).destroyed;
    }
    assert.deepEqual(leftover, [], 'ctr containers left behind');
    assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
    if (report !== undefined) assert.deepEqual(report, { containers: [], processes: [], mounts: [] }, 'containerd left something behind');
  });

  test('SIGTERM reaches the exec\'s trap: ctr gets its output and its status 9, nothing remains', async () => {
    const marker = `trap-term-${process.pid}`;
    const { ctr } = await startExec('e1', 'trap "echo got TERM; t=9" TERM; t=; echo ready; while [ -z "$t" ]; do sleep 0.2; done; while [ ! -e /tmp/e1-go ]; do usleep 20000; done; exit $t', marker, true);
    await killExec('e1', 'SIGTERM');
    await endWhenShown(ctr, 'e1', 'ready\ngot TERM\n');
    const r = await ctr.finished;
    assert.equal(r.exitCode, 9, describeResult(r));
    assert.equal(r.stdout, 'ready\ngot TERM\n');
    await assertNothingLeft(marker);
  });

  test('SIGTERM ends an exec without a trap with 143, nothing remains', async () => {
    // `exec sleep N`: the marker is the number, so it stays in the argv of what sh execs.
    const marker = String(1_000_000 + process.pid);
    const { ctr } = await startExec('e2', `exec sleep ${marker}`, marker);
    await killExec('e2', 'SIGTERM');
    const r = await ctr.finished;
    assert.equal(r.exitCode, 143, describeResult(r));
    await assertNothingLeft(marker);
  });

  test('SIGINT reaches a trap too: the exec does not start with SIGINT ignored', async () => {
    const marker = `trap-int-${process.pid}`;
    const { ctr, app } = await startExec('e3', 'trap "echo got INT; t=7" INT; t=; echo ready; while [ -z "$t" ]; do sleep 0.2; done; while [ ! -e /tmp/e3-go ]; do usleep 20000; done; exit $t', marker, true);
    const sigIgn = /^SigIgn:\s+([0-9a-f]+)/m.exec(fs.readFileSync(`/proc/${app.pid}/status`, 'utf8'))?.[1] ?? '';
    // (busybox sh ignores SIGQUIT itself, so only the SIGINT bit says something here.)
    assert.equal(BigInt(`0x${sigIgn}`) & 2n, 0n, `SIGINT is not ignored by the exec (SigIgn ${sigIgn})`);
    await killExec('e3', 'SIGINT');
    await endWhenShown(ctr, 'e3', 'ready\ngot INT\n');
    const r = await ctr.finished;
    assert.equal(r.exitCode, 7, describeResult(r));
    assert.equal(r.stdout, 'ready\ngot INT\n');
    await assertNothingLeft(marker);
  });

  test('SIGKILL to the exec\'s pid gives 137 and the process in the CT dies too; the stand-in is small', async (t) => {
    const marker = String(2_000_000 + process.pid);
    const { ctr } = await startExec('e4', `exec sleep ${marker}`, marker);
    const sleep = await pollFor(() => processesWith(marker).find((p) => p.inCt && p.args.startsWith('sleep ')), { timeoutMs: 60_000, description: 'sh to exec sleep' });
    const sigIgn = /^SigIgn:\s+([0-9a-f]+)/m.exec(fs.readFileSync(`/proc/${sleep.pid}/status`, 'utf8'))?.[1];
    assert.equal(sigIgn, '0000000000000000', 'the exec starts with no signal ignored (a busybox & job would ignore SIGINT and SIGQUIT)');
    // The stand-in, its watcher and lxc-attach.
    const host = hostProcessesOf(sleep);
    assert.ok(host.some((p) => p.args.includes('proxrun-exec')) && host.some((p) => p.args.includes(' -- /.proxrun/launch --env')), host.map((p) => p.args).join('; '));
    assert.ok(host.every((p) => !p.args.includes(marker)), 'the exec\'s argv is on no host command line');
    const rss = host.reduce((sum, p) => sum + p.rssKiB, 0);
    t.diagnostic(`host processes of one detached exec: ${host.length}, VmRSS sum ${rss} KiB`);
    assert.ok(host.length >= 2, `a stand-in and lxc-attach on the host: ${host.map((p) => p.args.slice(0, 40)).join('; ')}`);
    assert.ok(rss < 16 * 1024, `the exec's host processes use ${rss} KiB of VmRSS`);
    await killExec('e4', 'SIGKILL');
    const r = await ctr.finished;
    assert.equal(r.exitCode, 137, describeResult(r));
    await assertNothingLeft(marker, host);
  });

  test('an exec that ends by itself still reports its status and output apart after signals were forwarded', async () => {
    const marker = `hup-${process.pid}`;
    const { ctr } = await startExec('e5', 'trap "echo hup; n=1" HUP; n=; echo ready; while [ -z "$n" ]; do sleep 0.2; done; echo out; echo err >&2; while [ ! -e /tmp/e5-go ]; do usleep 20000; done; exit 4', marker, true);
    await killExec('e5', 'SIGHUP');
    await endWhenShown(ctr, 'e5', 'ready\nhup\nout\n', 'err\n');
    const r = await ctr.finished;
    assert.equal(r.exitCode, 4, describeResult(r));
    assert.equal(r.stdout, 'ready\nhup\nout\n');
    assert.equal(r.stderr, 'err\n');
    await assertNothingLeft(marker);
  });
});
