/**
 * The init forwards signals to the app, so a Proxmox-style stop reaches it: `pct shutdown` sends
 * the CT's lxc.signal.halt (the image's stop signal) to the init, which passes it on; the app's
 * trap runs, it exits 0, and the monitor reports 0 (not the 137 of Proxmox's forced stop).
 * SIGINT is used on purpose: busybox sh starts `&` jobs with SIGINT/SIGQUIT ignored, and an app
 * that inherited that could neither trap nor die of it. Simulator, CLI transport, real LXC.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { proxrunToFiles, startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { describeResult, pollFor } from '../helpers/exec.js';

const VMID_RANGE: readonly [number, number] = [800000, 800999];
import { MONITOR_BASE } from '../../src/backends/proxmox-lxc/monitor/monitor-location.js';


interface StateJson {
  status: string;
  annotations?: Record<string, string>;
}

/** Bit N-1 of a /proc status signal mask (hex). */
function maskHas(mask: string, signal: number): boolean {
  return ((BigInt(`0x${mask}`) >> BigInt(signal - 1)) & 1n) === 1n;
}

describe('proxmox-lxc: stop signal and forwarded signals reach the app', { timeout: 300_000 }, () => {
  let sim: PveSimEnv;
  let env: NodeJS.ProcessEnv;
  let root: string;
  let work: string;

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE });
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
    root = tempDir('proxrun-stopsig-root-');
    work = tempDir('proxrun-stopsig-work-');
    fs.chmodSync(work, 0o755);
  });

  after(async () => {
    // The simulator stops (and its root goes) whatever failed before it.
    let destroyed: number[] = [];
    try {
      for (const id of leftovers(root)) await proxrun(root, ['delete', '--force', id], { env });
    } finally {
      destroyed = (await sim?.stop())?.destroyed ?? [];
    }
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
    assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
  });

  const state = async (id: string): Promise<StateJson> => {
    const r = await proxrun(root, ['state', id], { env });
    assert.equal(r.exitCode, 0, describeResult(r));
    return JSON.parse(r.stdout) as StateJson;
  };

  /** Creates and starts `id` running `script` in sh; returns its bundle folder and VMID. */
  const run = async (id: string, script: string, stopSignal?: string): Promise<{ dir: string; vmid: number }> => {
    const dir = await makeBundle(path.join(work, id), {
      args: ['sh', '-c', script],
      edit: (config) => {
        (config['root'] as Record<string, unknown>)['readonly'] = false;
        if (stopSignal !== undefined) (config['annotations'] as Record<string, string>)['org.opencontainers.image.stopSignal'] = stopSignal;
      },
    });
    const { exitCode: code } = await proxrunToFiles(root, ['create', '--bundle', dir, id], dir, env);
    assert.equal(code, 0, fs.readFileSync(path.join(dir, 'stderr'), 'utf8'));
    const started = await proxrun(root, ['start', id], { env });
    assert.equal(started.exitCode, 0, describeResult(started));
    return { dir, vmid: Number((await state(id)).annotations?.['io.proxrun.pve.vmid']) };
  };

  const stdoutOf = (dir: string): string => fs.readFileSync(path.join(dir, 'stdout'), 'utf8');

  const exitStatusOf = (vmid: number): Promise<string> =>
    pollFor(() => {
      const folder = fs.readdirSync(MONITOR_BASE).find((n) => n.startsWith(`${vmid}-`));
      const file = folder === undefined ? undefined : path.join(MONITOR_BASE, folder, 'exit-status');
      return file !== undefined && fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : undefined;
    }, { timeoutMs: 30_000, description: 'the monitor to record the exit status' });

  const remove = async (id: string): Promise<void> => {
    const r = await proxrun(root, ['delete', '--force', id], { env });
    assert.equal(r.exitCode, 0, describeResult(r));
  };

  test('pct shutdown: the image stop signal (SIGINT) reaches the app, whose trap runs; exit 0, no forced stop', async () => {
    const script = 'grep -E "^Sig(Ign|Cgt)" /proc/self/status; trap "echo got INT; exit 0" INT; echo ready; while :; do sleep 0.2; done';
    const { dir, vmid } = await run('halt', script, 'SIGINT');
    assert.match(sim.tool('pct', ['config', String(vmid)]).stdout, /^lxc\.signal\.halt: SIGINT$/m);
    await pollFor(() => (stdoutOf(dir).includes('ready') ? true : undefined), { timeoutMs: 60_000, description: 'the app to set its trap' });
    const ignored = /^SigIgn:\s+([0-9a-f]+)$/m.exec(stdoutOf(dir))?.[1];
    assert.ok(ignored !== undefined, stdoutOf(dir));
    assert.ok(!maskHas(ignored, 2) && !maskHas(ignored, 3), `SIGINT and SIGQUIT must not be ignored by the app (SigIgn ${ignored})`);

    // Without --forceStop, pct shutdown fails when its timeout passes: exit 0 means the CT ended on
    // the halt signal, and the app's own status and line below say the trap ran.
    const shutdown = spawnSync(path.join(sim.nodeInfo.binDir, 'pct'), ['shutdown', String(vmid), '--timeout', '60'], { encoding: 'utf8', timeout: 90_000 });
    assert.equal(shutdown.status, 0, shutdown.stderr);
    assert.equal(await exitStatusOf(vmid), '0', 'the monitor reports the app status');
    assert.match(stdoutOf(dir), /got INT\n$/);
    assert.equal((await state('halt')).status, 'stopped');
    await remove('halt');
  });

  test('proxrun kill forwards SIGINT and SIGQUIT with default actions: sleep ends 130, a QUIT trap exits 0', async () => {
    const slept = await run('int', 'exec sleep 1000');
    assert.equal((await proxrun(root, ['kill', 'int', 'INT'], { env })).exitCode, 0);
    assert.equal(await exitStatusOf(slept.vmid), '130');
    await remove('int');

    const trapped = await run('quit', 'trap "echo got QUIT; exit 0" QUIT; echo ready; while :; do sleep 0.2; done');
    await pollFor(() => (stdoutOf(trapped.dir).includes('ready') ? true : undefined), { timeoutMs: 60_000, description: 'the app to set its trap' });
    assert.equal((await proxrun(root, ['kill', 'quit', 'QUIT'], { env })).exitCode, 0);
    assert.equal(await exitStatusOf(trapped.vmid), '0');
    assert.match(stdoutOf(trapped.dir), /got QUIT\n$/);
    await remove('quit');
    assert.deepEqual(sim.ctVmids(), []);
  });
});
