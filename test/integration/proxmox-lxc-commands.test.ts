/**
 * The proxmox-lxc backend's other runtime commands on the simulator (CLI transport, real LXC):
 * ps lists the CT init and the app; pause/resume freeze and thaw the CT's cgroup with runc's error
 * strings; update --resources lands in `pct config` and a refused field changes nothing;
 * noNewPrivileges and oomScoreAdj are what the app sees; createRuntime/poststart/poststop hooks
 * get the state (the pid's netns is the CT's), a hook timeout fails create cleanly; and the
 * image's stop signal is the CT's lxc.signal.halt, with what `pct shutdown` then does.
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
import { processesMentioning } from '../helpers/cleanup.js';

const VMID_RANGE: readonly [number, number] = [625000, 629999];

interface StateJson {
  status: string;
  pid: number;
  bundle: string;
  annotations?: Record<string, string>;
}

function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number);
  } catch {
    return [];
  }
}

/** A host hook: `sh -c SCRIPT` with a PATH (hooks get exactly their env). */
function shellHook(script: string, timeout?: number): Record<string, unknown> {
  return { path: '/bin/sh', args: ['sh', '-c', script], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], ...(timeout !== undefined ? { timeout } : {}) };
}

describe('proxmox-lxc commands on the simulator', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let env: NodeJS.ProcessEnv;
  let root: string;
  let work: string;

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE });
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
    root = tempDir('proxrun-pvelxc-cmd-root-');
    work = tempDir('proxrun-pvelxc-cmd-work-');
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

  const bundle = (name: string, args: string[], edit?: (c: Record<string, unknown>) => void): Promise<string> =>
    makeBundle(path.join(work, name), {
      args,
      edit: (config) => {
        (config['root'] as Record<string, unknown>)['readonly'] = false;
        edit?.(config);
      },
    });

  const create = async (id: string, dir: string): Promise<void> => {
    const { exitCode: code } = await proxrunToFiles(root, ['create', '--bundle', dir, id], dir, env);
    assert.equal(code, 0, fs.readFileSync(path.join(dir, 'stderr'), 'utf8'));
  };

  const deleteForce = async (id: string): Promise<void> => {
    const r = await proxrun(root, ['delete', '--force', id], { env });
    assert.equal(r.exitCode, 0, describeResult(r));
  };

  const vmidOf = (st: StateJson): number => Number(st.annotations?.['io.proxrun.pve.vmid']);

  test('noNewPrivileges and oomScoreAdj reach the app; ps lists the CT init and the app; pause and resume', async () => {
    const dir = await bundle('app', ['sh', '-c', 'grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj; exec sleep 1000'], (config) => {
      const proc = config['process'] as Record<string, unknown>;
      proc['noNewPrivileges'] = true;
      proc['oomScoreAdj'] = 123;
    });
    await create('app', dir);
    const notRunning = await proxrun(root, ['pause', 'app'], { env });
    assert.notEqual(notRunning.exitCode, 0);
    assert.match(notRunning.stderr, /container not running/, 'a created container cannot be paused');
    assert.equal((await proxrun(root, ['start', 'app'], { env })).exitCode, 0);

    const stdout = path.join(dir, 'stdout');
    const seen = await pollFor(() => {
      const text = fs.readFileSync(stdout, 'utf8');
      return text.split('\n').length >= 3 ? text : undefined;
    }, { timeoutMs: 60_000, description: 'the app to report' });
    assert.match(seen, /^NoNewPrivs:\s+1\n123\n$/);

    const running = await state('app');
    assert.equal(running.status, 'running');
    // The app runs under the init's holder shell: look for it among the init's descendants.
    const descendants = (pid: number): number[] => childrenOf(pid).flatMap((child) => [child, ...descendants(child)]);
    const app = await pollFor(
      () => descendants(running.pid).find((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep\0')),
      { timeoutMs: 60_000, description: 'the app (sleep) under the CT init' },
    );
    const ps = await proxrun(root, ['ps', '--format', 'json', 'app'], { env });
    assert.equal(ps.exitCode, 0, describeResult(ps));
    const pids = JSON.parse(ps.stdout) as number[];
    assert.ok(pids.includes(running.pid), `ps ${ps.stdout} lacks the CT init ${running.pid}`);
    assert.ok(pids.includes(app), `ps ${ps.stdout} lacks the app ${app}`);
    assert.ok(!pids.includes(process.pid), 'ps lists a host process outside the CT');
    const table = await proxrun(root, ['ps', 'app'], { env });
    assert.equal(table.exitCode, 0, describeResult(table));
    assert.equal(table.stdout.split('\n')[0], 'PID');
    assert.ok(table.stdout.split('\n').includes(String(app)));

    const notPaused = await proxrun(root, ['resume', 'app'], { env });
    assert.notEqual(notPaused.exitCode, 0);
    assert.match(notPaused.stderr, /container not paused/);
    const paused = await proxrun(root, ['pause', 'app'], { env });
    assert.equal(paused.exitCode, 0, describeResult(paused));
    assert.equal((await state('app')).status, 'paused');
    const again = await proxrun(root, ['pause', 'app'], { env });
    assert.match(again.stderr, /container not running/, 'a paused container cannot be paused again');
    const resumed = await proxrun(root, ['resume', 'app'], { env });
    assert.equal(resumed.exitCode, 0, describeResult(resumed));
    assert.equal((await state('app')).status, 'running');
  });

  test('update --resources reaches pct config; a refused field is named and changes nothing', async () => {
    const vmid = vmidOf(await state('app'));
    const config = (): string => {
      const r = sim.tool('pct', ['config', String(vmid)]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const resources = path.join(work, 'resources.json');
    fs.writeFileSync(resources, JSON.stringify({
      memory: { limit: 64 * 1024 * 1024 + 1, swap: 96 * 1024 * 1024 + 1 },
      cpu: { quota: 50_000, period: 100_000, shares: 1024 },
    }));
    const r = await proxrun(root, ['update', '--resources', resources, 'app'], { env });
    assert.equal(r.exitCode, 0, describeResult(r));
    const after1 = config();
    assert.match(after1, /^memory: 65$/m, 'memory limit rounded up to MiB');
    assert.match(after1, /^swap: 32$/m, 'swap is memory+swap minus memory');
    assert.match(after1, /^cpulimit: 0\.5$/m);
    assert.match(after1, /^cpuunits: 39$/m);

    for (const [doc, field] of [
      [{ memory: { limit: 256 * 1024 * 1024 }, cpu: { cpus: '0' } }, '/cpu/cpus'],
      [{ memory: { limit: 256 * 1024 * 1024 }, pids: { limit: 50 } }, '/pids/limit'],
      [{ memory: { limit: 256 * 1024 * 1024 }, blockIO: { weight: 10 } }, '/blockIO'],
    ] as const) {
      fs.writeFileSync(resources, JSON.stringify(doc));
      const refused = await proxrun(root, ['update', '--resources', resources, 'app'], { env });
      assert.notEqual(refused.exitCode, 0, describeResult(refused));
      assert.match(refused.stderr, new RegExp(`^update: ${field}: .*proxmox-lxc`), refused.stderr);
      assert.equal(config(), after1, `a refused update (${field}) must change nothing`);
    }
    await deleteForce('app');
    assert.deepEqual(sim.ctVmids(), []);
  });

  test('createRuntime, poststart and poststop hooks get the state; the pid is in the CT netns; a failing poststop only warns', async () => {
    const out = fs.mkdtempSync(path.join(work, 'hooks-'));
    const record = (name: string): string =>
      `s=$(cat); printf %s "$s" > ${out}/${name}.json; pid=$(printf %s "$s" | grep -o '"pid": *[0-9]*' | grep -o '[0-9]*$'); readlink /proc/$pid/ns/net > ${out}/${name}.netns`;
    const dir = await bundle('hooks', ['sleep', '1000'], (config) => {
      (config['annotations'] as Record<string, string>)['org.example.note'] = 'kept';
      config['hooks'] = {
        createRuntime: [shellHook(record('createRuntime'))],
        poststart: [shellHook(record('poststart'))],
        poststop: [shellHook(`cat > ${out}/poststop.json`), shellHook('echo poststop broke >&2; exit 3')],
      };
    });
    await create('hooks', dir);
    const created = JSON.parse(fs.readFileSync(path.join(out, 'createRuntime.json'), 'utf8')) as StateJson;
    const st = await state('hooks');
    assert.equal(created.status, 'created');
    assert.equal(created.bundle, dir);
    assert.equal(created.pid, st.pid, 'createRuntime pid is the CT init');
    assert.equal(created.annotations?.['org.example.note'], 'kept');
    assert.equal(created.annotations?.['io.proxrun.pve.vmid'], st.annotations?.['io.proxrun.pve.vmid']);
    const ctNet = fs.readFileSync(path.join(out, 'createRuntime.netns'), 'utf8').trim();
    assert.match(ctNet, /^net:\[\d+\]$/);
    assert.notEqual(ctNet, fs.readlinkSync('/proc/self/ns/net'), 'the hook pid must be in the CT netns, not the host');
    assert.equal(ctNet, fs.readlinkSync(`/proc/${st.pid}/ns/net`));

    assert.equal((await proxrun(root, ['start', 'hooks'], { env })).exitCode, 0);
    const poststart = JSON.parse(fs.readFileSync(path.join(out, 'poststart.json'), 'utf8')) as StateJson;
    assert.equal(poststart.status, 'running');
    assert.equal(poststart.pid, st.pid);

    assert.equal(fs.existsSync(path.join(out, 'poststop.json')), false, 'poststop must not run before delete');
    const log = path.join(out, 'proxrun.log');
    const deleted = await proxrun(root, ['delete', '--force', 'hooks'], { env, globals: ['--log', log] });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assert.match(fs.readFileSync(log, 'utf8'), /poststop\[1\].*exit status 3: poststop broke/, 'a failing poststop hook is a warning in the log');
    const poststop = JSON.parse(fs.readFileSync(path.join(out, 'poststop.json'), 'utf8')) as StateJson;
    assert.equal(poststop.status, 'stopped');
    assert.deepEqual(sim.ctVmids(), []);
    assert.deepEqual(leftovers(root), []);
  });

  test('a createRuntime hook that outlives its timeout fails create, and nothing is left', async () => {
    const marker = String(3_100_000 + process.pid);
    const dir = await bundle('hooktimeout', ['true'], (config) => {
      // A hook that never ends by itself: a create that waited for it past its timeout would never
      // return (the runner's deadline would fail the test). No duration is measured.
      config['hooks'] = { createRuntime: [shellHook(`exec sleep ${marker}`, 1)] };
    });
    const { exitCode: code } = await proxrunToFiles(root, ['create', '--bundle', dir, 'hooktimeout'], dir, env);
    assert.notEqual(code, 0);
    assert.match(fs.readFileSync(path.join(dir, 'stderr'), 'utf8'), /createRuntime\[0\].*timed out after 1 s/);
    await pollFor(async () => ((await processesMentioning(marker)).length === 0 ? true : undefined), { timeoutMs: 60_000, description: 'the hook to be killed at its timeout' });
    assert.deepEqual(sim.ctVmids(), []);
    assert.deepEqual(sim.lxcContainers(), []);
    assert.deepEqual(sim.templates(), []);
    assert.deepEqual(leftovers(root), []);
  });

  test('the image stop signal is the CT halt signal; pct shutdown sends it to the init, which passes it to the app', async () => {
    const dir = await bundle('stopsig', ['sh', '-c', 'trap "echo got USR1; exit 7" USR1; echo ready; while :; do sleep 0.2; done'], (config) => {
      (config['annotations'] as Record<string, string>)['org.opencontainers.image.stopSignal'] = 'SIGUSR1';
    });
    await create('stopsig', dir);
    assert.equal((await proxrun(root, ['start', 'stopsig'], { env })).exitCode, 0);
    const vmid = vmidOf(await state('stopsig'));
    const conf = sim.tool('pct', ['config', String(vmid)]);
    assert.match(conf.stdout, /^lxc\.signal\.halt: SIGUSR1$/m);
    const raw = fs.readFileSync(path.join(sim.pveDir, 'nodes', sim.node, 'lxc', `${vmid}.conf`), 'utf8');
    assert.match(raw, /^lxc\.signal\.halt: SIGUSR1$/m);
    await pollFor(() => (fs.readFileSync(path.join(dir, 'stdout'), 'utf8').includes('ready') ? true : undefined), { timeoutMs: 60_000, description: 'the app to trap USR1' });

    // The init forwards the halt signal to the app, whose trap exits 7: the monitor records 7, not a kill.
    const shutdown = spawnSync(path.join(sim.nodeInfo.binDir, 'pct'), ['shutdown', String(vmid), '--timeout', '30', '--forceStop', '1'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(shutdown.status, 0, shutdown.stderr);
    await pollFor(async () => ((await state('stopsig')).status === 'stopped' ? true : undefined), { timeoutMs: 30_000, description: 'the CT to stop' });
    const monitorDir = fs.readdirSync(MONITOR_BASE).find((n) => n.startsWith(`${vmid}-`));
    assert.ok(monitorDir !== undefined, 'monitor folder');
    assert.equal(fs.readFileSync(path.join(MONITOR_BASE, monitorDir, 'exit-status'), 'utf8').trim(), '7');
    assert.match(fs.readFileSync(path.join(dir, 'stdout'), 'utf8'), /got USR1/);
    await deleteForce('stopsig');
    assert.deepEqual(sim.ctVmids(), []);
  });
});
