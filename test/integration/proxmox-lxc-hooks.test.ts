/**
 * The proxmox-lxc backend's createContainer and startContainer hooks on the simulator (CLI
 * transport, real LXC, unprivileged CTs): each hook records what it sees (its own mount, network
 * and UTS namespaces, its user namespace's uid map, its working directory, env, argv[0] and the
 * state JSON on stdin) and the test compares that with the CT init and the host; the order of
 * createRuntime < createContainer < startContainer < app, with poststart after startContainer;
 * a createContainer hook that fails or times out fails create and leaves nothing; a
 * startContainer hook that fails or times out fails start, the app never runs and the CT is stopped.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startPveSimEnv, proxrunToFiles, monitorDirsOf, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { describeResult, pollFor } from '../helpers/exec.js';
import { processesMentioning } from '../helpers/cleanup.js';

const VMID_RANGE: readonly [number, number] = [840000, 859999];
const HOST_PATH = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

interface StateJson {
  id: string;
  status: string;
  pid: number;
  bundle: string;
  annotations?: Record<string, string>;
}

/** A hook running `/bin/sh -c SCRIPT` (argv[0] the path itself) with exactly `env`. */
/**
 * A hook that never ends by itself (`sleep` of a number unique to this run, so it can be found):
 * a create or start that waited for it past its timeout would never return, and the runner's
 * deadline would fail the test. No duration is measured.
 */
const NEVER_ENDS = `exec sleep ${3_000_000 + process.pid}`;

/** Waits until nothing runs the NEVER_ENDS hook any more (it was killed at its timeout, or went with its CT). */
async function neverEndingHookGone(): Promise<void> {
  const marker = String(3_000_000 + process.pid);
  await pollFor(async () => ((await processesMentioning(marker)).length === 0 ? true : undefined), { timeoutMs: 60_000, description: `no process running the hook (sleep ${marker})` });
}

function shellHook(script: string, env: string[], timeout?: number): Record<string, unknown> {
  return { path: '/bin/sh', args: ['/bin/sh', '-c', script], env, ...(timeout !== undefined ? { timeout } : {}) };
}

/**
 * A hook that is the multi-call busybox started as `sh` (args[0] "sh", path /bin/busybox): it
 * runs only if argv[0] really is args[0], since busybox picks its applet by argv[0].
 */
function busyboxShHook(script: string, env: string[]): Record<string, unknown> {
  return { path: '/bin/busybox', args: ['sh', '-c', script], env };
}

/**
 * Shell that writes what a hook sees into DIR/NAME.*: the state from stdin, the namespaces of
 * itself and of the state's pid (through the /proc it sees), hostname, uid map and env.
 */
function recorder(dir: string, name: string): string {
  const f = (what: string): string => `${dir}/${name}.${what}`;
  return [
    `s=$(cat); printf %s "$s" > ${f('json')}`,
    `pid=$(printf %s "$s" | grep -o '"pid": *[0-9]*' | grep -o '[0-9]*$')`,
    `readlink /proc/$pid/ns/net > ${f('pidnet')}`,
    `readlink /proc/self/ns/mnt > ${f('mnt')}`,
    `readlink /proc/self/ns/net > ${f('net')}`,
    `cat /proc/sys/kernel/hostname > ${f('hostname')}`,
    `cat /proc/self/uid_map > ${f('uidmap')}`,
    `env > ${f('env')}`,
    `if [ -e ./.proxrun/busybox ]; then echo ct-root; else echo elsewhere; fi > ${f('cwd')}`,
    `cp ${dir}/order ${f('order-seen')}`,
    `echo ${name} >> ${dir}/order`,
  ].join('; ');
}

describe('proxmox-lxc createContainer and startContainer hooks on the simulator', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let env: NodeJS.ProcessEnv;
  let root: string;
  let work: string;

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE });
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
    root = tempDir('proxrun-pvelxc-hooks-root-');
    work = tempDir('proxrun-pvelxc-hooks-work-');
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

  /** A folder the CT's root (host uid 100000) can write, bind-mounted at /out in the CT. */
  const outDir = (name: string): string => {
    const dir = path.join(work, `${name}-out`);
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o777);
    // The hooks append to one order file, on the host as root and in the CT as its root.
    fs.writeFileSync(path.join(dir, 'order'), '');
    fs.chmodSync(path.join(dir, 'order'), 0o666);
    return dir;
  };

  const bundle = (name: string, out: string, args: string[], hooks: Record<string, unknown>): Promise<string> =>
    makeBundle(path.join(work, name), {
      args,
      edit: (config) => {
        (config['root'] as Record<string, unknown>)['readonly'] = false;
        config['hostname'] = 'hookbox';
        (config['annotations'] as Record<string, string>)['org.example.note'] = 'kept';
        (config['mounts'] as unknown[]).push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
        config['hooks'] = hooks;
      },
    });

  const state = async (id: string): Promise<StateJson> => {
    const r = await proxrun(root, ['state', id], { env });
    assert.equal(r.exitCode, 0, describeResult(r));
    return JSON.parse(r.stdout) as StateJson;
  };

  const create = async (id: string, dir: string): Promise<{ code: number | null; stderr: string }> => {
    const r = await proxrunToFiles(root, ['create', '--bundle', dir, id], dir, env);
    return { code: r.exitCode, stderr: fs.readFileSync(r.stderrFile, 'utf8') };
  };

  const read = (file: string): string => fs.readFileSync(file, 'utf8').trim();
  const nothingLeft = (): void => {
    assert.deepEqual(sim.ctVmids(), [], 'no CT may be left in Proxmox');
    assert.deepEqual(sim.lxcContainers(), [], 'no LXC container may be left');
    assert.deepEqual(sim.templates(), [], 'no template may be left');
    assert.deepEqual(leftovers(root), [], 'no state may be left');
  };

  test('createContainer runs in the CT namespaces with the host root, startContainer inside the CT, in order around the app', async () => {
    const out = outDir('order');
    const dir = await bundle('order', out, ['sh', '-c', 'echo app >> /out/order; exec sleep 1000'], {
      createRuntime: [shellHook(`echo createRuntime >> ${out}/order`, [HOST_PATH])],
      // Host paths: the host's busybox, writing into the test's folder on the host.
      createContainer: [busyboxShHook(recorder(out, 'createContainer'), [HOST_PATH, 'HOOKVAR=cc'])],
      // Paths in the CT: the rootfs's busybox, writing into the bind mount at /out.
      startContainer: [busyboxShHook(recorder('/out', 'startContainer'), [HOST_PATH, 'HOOKVAR=sc'])],
      poststart: [shellHook(`echo poststart >> ${out}/order`, [HOST_PATH])],
    });
    const created = await create('order', dir);
    assert.equal(created.code, 0, created.stderr);
    try {
      const st = await state('order');
      assert.equal(st.status, 'created');
      const hostMnt = fs.readlinkSync('/proc/self/ns/mnt');
      const ctMnt = fs.readlinkSync(`/proc/${st.pid}/ns/mnt`);
      const ctNet = fs.readlinkSync(`/proc/${st.pid}/ns/net`);
      assert.notEqual(ctMnt, hostMnt);
      assert.deepEqual(read(path.join(out, 'order')).split('\n'), ['createRuntime', 'createContainer'], 'create runs createRuntime, then createContainer, and not the app');

      const cc = (what: string): string => read(path.join(out, `createContainer.${what}`));
      assert.equal(cc('mnt'), ctMnt, 'createContainer runs in the CT mount namespace');
      assert.equal(cc('net'), ctNet, 'createContainer runs in the CT network namespace');
      assert.equal(cc('hostname'), 'hookbox', 'createContainer runs in the CT UTS namespace');
      assert.doesNotMatch(cc('uidmap'), /^0\s+0\s+4294967295$/, 'createContainer runs in the unprivileged CT user namespace');
      assert.equal(cc('uidmap'), read(`/proc/${st.pid}/uid_map`));
      assert.equal(cc('cwd'), 'ct-root', 'its working directory is the CT root');
      assert.match(cc('env'), /^HOOKVAR=cc$/m);
      assert.doesNotMatch(cc('env'), /PROXRUN_CONFIG/, 'the hook gets its own env, not proxrun\'s');
      const ccState = JSON.parse(cc('json')) as StateJson;
      assert.equal(ccState.id, 'order');
      assert.equal(ccState.status, 'created');
      assert.equal(ccState.bundle, dir);
      assert.equal(ccState.annotations?.['org.example.note'], 'kept');
      assert.equal(ccState.annotations?.['io.proxrun.pve.vmid'], st.annotations?.['io.proxrun.pve.vmid']);
      assert.equal(ccState.pid, st.pid, 'its /proc is the host\'s, so the pid is the init\'s host pid');
      assert.equal(cc('pidnet'), ctNet);

      const started = await proxrun(root, ['start', 'order'], { env });
      assert.equal(started.exitCode, 0, describeResult(started));
      await pollFor(() => (read(path.join(out, 'order')).split('\n').includes('app') ? true : undefined), { timeoutMs: 60_000, description: 'the app to write its line' });
      const order = read(path.join(out, 'order')).split('\n');
      assert.deepEqual(order.slice(0, 3), ['createRuntime', 'createContainer', 'startContainer']);
      assert.deepEqual([...order].sort(), ['app', 'createContainer', 'createRuntime', 'poststart', 'startContainer']);

      const sc = (what: string): string => read(path.join(out, `startContainer.${what}`));
      assert.equal(sc('order-seen'), 'createRuntime\ncreateContainer', 'startContainer runs before the app');
      assert.equal(sc('mnt'), ctMnt, 'startContainer runs in the CT mount namespace');
      assert.equal(sc('net'), ctNet);
      assert.equal(sc('hostname'), 'hookbox');
      assert.equal(sc('uidmap'), read(`/proc/${st.pid}/uid_map`));
      assert.equal(sc('cwd'), 'ct-root');
      assert.match(sc('env'), /^HOOKVAR=sc$/m);
      assert.doesNotMatch(sc('env'), /PROXRUN_CONFIG|^container=/m, 'the hook gets its own env, not proxrun\'s or lxc-attach\'s');
      const scState = JSON.parse(sc('json')) as StateJson;
      assert.equal(scState.id, 'order');
      assert.equal(scState.status, 'created');
      assert.equal(scState.bundle, dir);
      assert.equal(scState.annotations?.['org.example.note'], 'kept');
      assert.equal(scState.pid, 1, 'inside the CT the init is pid 1');
      assert.equal(sc('pidnet'), ctNet, 'the state pid names the CT netns in the /proc the hook sees');
      assert.equal((await state('order')).status, 'running');
    } finally {
      const r = await proxrun(root, ['delete', '--force', 'order'], { env });
      assert.equal(r.exitCode, 0, describeResult(r));
    }
    nothingLeft();
  });

  test('in a privileged CT createContainer joins the CT namespaces but not a user namespace', async () => {
    const out = outDir('priv');
    const dir = await bundle('priv', out, ['true'], {
      createContainer: [busyboxShHook(recorder(out, 'createContainer'), [HOST_PATH])],
    });
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { annotations: Record<string, string> };
    config.annotations['io.proxrun.pve.unprivileged'] = '0';
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    const created = await create('priv', dir);
    assert.equal(created.code, 0, created.stderr);
    try {
      const st = await state('priv');
      assert.equal(read(path.join(out, 'createContainer.mnt')), fs.readlinkSync(`/proc/${st.pid}/ns/mnt`));
      assert.notEqual(read(path.join(out, 'createContainer.mnt')), fs.readlinkSync('/proc/self/ns/mnt'));
      assert.equal(read(path.join(out, 'createContainer.hostname')), 'hookbox');
      assert.match(read(path.join(out, 'createContainer.uidmap')), /^0\s+0\s+4294967295$/, 'a privileged CT has the host user namespace');
      assert.equal(read(path.join(out, 'createContainer.cwd')), 'ct-root');
    } finally {
      const r = await proxrun(root, ['delete', '--force', 'priv'], { env });
      assert.equal(r.exitCode, 0, describeResult(r));
    }
    nothingLeft();
  });

  test('a failing createContainer hook fails create and leaves nothing', async () => {
    const out = outDir('ccfail');
    const dir = await bundle('ccfail', out, ['sh', '-c', 'echo app > /out/app'], {
      createContainer: [shellHook('echo no GPU here >&2; exit 3', [HOST_PATH])],
    });
    const created = await create('ccfail', dir);
    assert.notEqual(created.code, 0);
    assert.match(created.stderr, /createContainer\[0\] \/bin\/sh: exit status 3: no GPU here/);
    assert.equal(fs.existsSync(path.join(out, 'app')), false);
    nothingLeft();
  });

  test('a createContainer hook past its timeout fails create in time and leaves nothing', async () => {
    const out = outDir('cctime');
    const dir = await bundle('cctime', out, ['true'], {
      createContainer: [shellHook(NEVER_ENDS, [HOST_PATH], 1)],
    });
    const created = await create('cctime', dir);
    assert.notEqual(created.code, 0);
    assert.match(created.stderr, /createContainer\[0\].*timed out after 1 s/);
    await neverEndingHookGone();
    nothingLeft();
  });

  for (const kind of ['fails', 'times out'] as const) {
    test(`a startContainer hook that ${kind} fails start: the app never runs and the CT is stopped`, async () => {
      const name = kind === 'fails' ? 'scfail' : 'sctime';
      const out = outDir(name);
      const hook = kind === 'fails' ? shellHook('echo not ready >&2; exit 4', [HOST_PATH]) : shellHook(NEVER_ENDS, [HOST_PATH], 1);
      const dir = await bundle(name, out, ['sh', '-c', 'echo app > /out/app; exec sleep 1000'], { startContainer: [hook] });
      const created = await create(name, dir);
      assert.equal(created.code, 0, created.stderr);
      try {
        const vmid = Number((await state(name)).annotations?.['io.proxrun.pve.vmid']);
        const started = await proxrun(root, ['start', name], { env });
        assert.notEqual(started.exitCode, 0);
        assert.match(started.stderr, kind === 'fails' ? /startContainer\[0\] \/bin\/sh: exit status 4: not ready/ : /startContainer\[0\].*timed out after 1 s/);
        await neverEndingHookGone();
        assert.equal((await state(name)).status, 'stopped');
        assert.equal(fs.existsSync(path.join(out, 'app')), false, 'the app must not run after a failed startContainer hook');
        assert.match(sim.tool('pct', ['status', String(vmid)]).stdout, /status: stopped/);
        assert.ok(monitorDirsOf(vmid).length > 0, 'the monitor folder stays until delete');
      } finally {
        const r = await proxrun(root, ['delete', '--force', name], { env });
        assert.equal(r.exitCode, 0, describeResult(r));
      }
      nothingLeft();
    });
  }
});
