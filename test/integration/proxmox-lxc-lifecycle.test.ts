/**
 * proxrun with the proxmox-lxc backend against the Proxmox VE simulator (CLI transport, real LXC):
 * create leaves the CT running with the app held, start runs it, state agrees with LXC, kill goes
 * through the monitor, delete leaves nothing in Proxmox, LXC, /run/proxrun or the state root.
 * `create` is run with stdout/stderr on files: the monitor inherits them, as it inherits the
 * shim's pipes, so the app's output lands there.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MONITOR_BASE } from '../../src/backends/proxmox-lxc/monitor/monitor-location.js';
import { proxrunToFiles, startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { describeResult, pollFor } from '../helpers/exec.js';
import { assertAllRequestsPassedSchema } from '../pve-sim/schema-audit.js';

const VMID_RANGE: readonly [number, number] = [600000, 609999];

function initPidOf(sim: PveSimEnv, vmid: number): number | undefined {
  const r = spawnSyncText('lxc-info', ['-P', sim.nodeInfo.lxcPath, '-n', String(vmid), '-p', '-H']);
  const pid = Number.parseInt(r.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function spawnSyncText(file: string, args: string[]): string {
  return spawnSync(file, args, { encoding: 'utf8' }).stdout ?? '';
}

interface StateJson {
  status: string;
  pid: number;
  annotations?: Record<string, string>;
}

describe('proxmox-lxc lifecycle on the simulator', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let env: NodeJS.ProcessEnv;
  let root: string;
  let work: string;

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE });
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
    root = tempDir('proxrun-pvelxc-root-');
    work = tempDir('proxrun-pvelxc-work-');
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

  const bundle = async (name: string, args: string[], edit?: (c: Record<string, unknown>) => void): Promise<string> =>
    makeBundle(path.join(work, name), {
      args,
      edit: (config) => {
        (config['root'] as Record<string, unknown>)['readonly'] = false;
        edit?.(config);
      },
    });

  test('create holds the app, start runs it, output reaches the inherited fds, delete leaves nothing', async () => {
    const dir = await bundle('split', ['sh', '-c', 'echo ran > /marker; echo out; echo err >&2; exit 3']);
    const created = await proxrunToFiles(root, ['create', '--bundle', dir, '--pid-file', path.join(dir, 'pid'), 'split'], dir, env);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));

    const pidText = fs.readFileSync(path.join(dir, 'pid'), 'utf8');
    assert.match(pidText, /^\d+$/, 'pid file must hold digits only');
    assert.ok(fs.existsSync(`/proc/${pidText}`), 'the monitor in the pid file is alive');

    const st = await state('split');
    assert.equal(st.status, 'created');
    const vmid = Number(st.annotations?.['io.proxrun.pve.vmid']);
    assert.ok(vmid >= VMID_RANGE[0] && vmid <= VMID_RANGE[1], `vmid ${vmid} outside the range`);
    assert.equal(st.annotations?.['io.proxrun.pve.node'], sim.node);
    assert.equal(sim.tool('pct', ['config', String(vmid)]).code, 0, 'the CT exists in Proxmox');
    const init = initPidOf(sim, vmid);
    assert.equal(st.pid, init, 'state pid is the CT init');
    assert.equal(fs.existsSync(`/proc/${init}/root/marker`), false, 'the app must not run before start');
    assert.deepEqual(sim.templates(), [], 'the base template is gone after create');

    const started = await proxrun(root, ['start', 'split'], { env });
    assert.equal(started.exitCode, 0, describeResult(started));
    await pollFor(async () => ((await state('split')).status === 'stopped' ? true : undefined), { timeoutMs: 30_000, description: 'the app to end' });
    assert.equal(fs.readFileSync(created.stdoutFile, 'utf8'), 'out\n');
    assert.equal(fs.readFileSync(created.stderrFile, 'utf8'), 'err\n');
    const again = await proxrun(root, ['start', 'split'], { env });
    assert.notEqual(again.exitCode, 0);
    assert.match(again.stderr, /cannot start a container that has stopped/);

    const deleted = await proxrun(root, ['delete', 'split'], { env });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assert.deepEqual(sim.ctVmids(), []);
    assert.deepEqual(sim.lxcContainers(), []);
    assert.deepEqual(sim.volumes(), []);
    assert.deepEqual(sim.templates(), []);
    assert.deepEqual(leftovers(root), []);
    assert.equal(fs.readdirSync(MONITOR_BASE).some((n) => n.startsWith(`${vmid}-`)), false, 'monitor folder left');
    const forced = await proxrun(root, ['delete', '--force', 'split'], { env });
    assert.equal(forced.exitCode, 0, describeResult(forced));
  });

  test('state pid is the CT init while running; kill 15 through the monitor ends sleep; delete --force cleans up', async () => {
    const dir = await bundle('sleep', ['sleep', '1000']);
    const created = await proxrunToFiles(root, ['create', '--bundle', dir, '--pid-file', path.join(dir, 'pid'), 'sleep'], dir, env);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    const monitorPid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
    assert.equal((await proxrun(root, ['start', 'sleep'], { env })).exitCode, 0);
    const running = await state('sleep');
    assert.equal(running.status, 'running');
    const vmid = Number(running.annotations?.['io.proxrun.pve.vmid']);
    assert.equal(running.pid, initPidOf(sim, vmid));
    const startAgain = await proxrun(root, ['start', 'sleep'], { env });
    assert.match(startAgain.stderr, /cannot start an already running container/);

    const killed = await proxrun(root, ['kill', 'sleep', '15'], { env });
    assert.equal(killed.exitCode, 0, describeResult(killed));
    await pollFor(async () => ((await state('sleep')).status === 'stopped' ? true : undefined), { timeoutMs: 30_000, description: 'sleep to end' });
    await pollFor(() => (fs.existsSync(`/proc/${monitorPid}/cmdline`) && fs.readFileSync(`/proc/${monitorPid}/cmdline`, 'utf8') !== '' ? undefined : true), { timeoutMs: 60_000, description: 'the monitor to exit' });
    const notRunning = await proxrun(root, ['kill', 'sleep', '15'], { env });
    assert.match(notRunning.stderr, /container not running/);

    const deleted = await proxrun(root, ['delete', '--force', 'sleep'], { env });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assert.deepEqual(sim.ctVmids(), []);
    assert.deepEqual(sim.lxcContainers(), []);
  });

  test('delete --force of a running CT stops and destroys it', async () => {
    const dir = await bundle('force', ['sleep', '1000']);
    const created = await proxrunToFiles(root, ['create', '--bundle', dir, 'force'], dir, env);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    assert.equal((await proxrun(root, ['start', 'force'], { env })).exitCode, 0);
    const notStopped = await proxrun(root, ['delete', 'force'], { env });
    assert.notEqual(notStopped.exitCode, 0);
    const deleted = await proxrun(root, ['delete', '--force', 'force'], { env });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assert.deepEqual(sim.ctVmids(), []);
    assert.deepEqual(sim.lxcContainers(), []);
    assert.deepEqual(sim.volumes(), []);
    assert.deepEqual(leftovers(root), []);
  });

  test('terminal mode is refused before anything is created', async () => {
    const dir = await bundle('tty', ['sh'], (config) => {
      (config['process'] as Record<string, unknown>)['terminal'] = true;
    });
    const r = await proxrun(root, ['create', '--bundle', dir, 'tty'], { env });
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /terminal/);
    assert.deepEqual(sim.ctVmids(), []);
    assert.deepEqual(sim.templates(), []);
    assert.deepEqual(leftovers(root), []);
  });

  test('without a proxmox section a real node\'s defaults apply, and on this host they are refused naming the key', async () => {
    const configFile = path.join(work, 'no-proxmox.json');
    fs.writeFileSync(configFile, JSON.stringify({ defaultBackend: 'proxmox-lxc' }));
    const dir = await bundle('noconf', ['true']);
    const r = await proxrun(root, ['create', '--bundle', dir, 'noconf'], { env: { ...env, PROXRUN_CONFIG: configFile } });
    assert.notEqual(r.exitCode, 0);
    // This test host is no Proxmox node: /usr/sbin has no pct, /etc/pve does not exist.
    assert.match(r.stderr, /proxmox\.(cliPath|pveDir|lxcPath): /);
    assert.deepEqual(sim.ctVmids(), []);
  });

  test('every request proxrun made passed the official API schema', () => {
    assertAllRequestsPassedSchema(sim.root);
  });
});
