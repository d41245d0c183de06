/**
 * `proxrun exec` with the proxmox-lxc backend on the simulator (CLI transport, real LXC): the
 * exec runs inside the running CT through lxc-attach with exactly its env, its cwd and its user;
 * its output reaches proxrun's stdio and its status is proxrun's (128+N for a signal, 255 when the
 * exec itself fails); `--detach --pid-file` leaves a representative process (lxc-attach) that runs
 * the command; what the backend cannot do is refused before anything runs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { proxrunToFiles, startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { describeResult, pollFor } from '../helpers/exec.js';

const VMID_RANGE: readonly [number, number] = [620000, 624999];

/**
 * proxrun with stdout/stderr on files, waiting for proxrun alone: what it leaves running (the
 * monitor, a detached exec) inherits them and outlives it, so pipes would not close with it.
 */
describe('proxmox-lxc exec on the simulator', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let env: NodeJS.ProcessEnv;
  let root: string;
  let work: string;
  const id = 'execct';

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE });
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
    root = tempDir('proxrun-pvelxc-exec-root-');
    work = tempDir('proxrun-pvelxc-exec-work-');
    const dir = await makeBundle(path.join(work, id), {
      args: ['sleep', '1000'],
      edit: (config) => {
        (config['root'] as Record<string, unknown>)['readonly'] = false;
        (config['process'] as Record<string, unknown>)['env'] = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'FROM_BUNDLE=yes'];
        // CAP_NET_RAW only in the bounding set: an exec may add it with --cap.
        (config['process'] as Record<string, unknown>)['capabilities'] = { bounding: ['CAP_KILL', 'CAP_NET_RAW'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] };
      },
    });
    const { exitCode: code } = await proxrunToFiles(root, ['create', '--bundle', dir, id], dir, env);
    assert.equal(code, 0, fs.readFileSync(path.join(dir, 'stderr'), 'utf8'));
    const started = await proxrun(root, ['start', id], { env });
    assert.equal(started.exitCode, 0, describeResult(started));
  });

  after(async () => {
    // The simulator stops (and its root goes) whatever failed before it.
    let destroyed: number[] = [];
    try {
      for (const leftover of leftovers(root)) await proxrun(root, ['delete', '--force', leftover], { env });
    } finally {
      destroyed = (await sim?.stop())?.destroyed ?? [];
    }
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
    assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
  });

  const processFile = (name: string, process: Record<string, unknown>): string => {
    const file = path.join(work, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify({ cwd: '/', env: ['PATH=/bin:/usr/bin'], user: { uid: 0, gid: 0 }, ...process }));
    return file;
  };

  test('--process: output, exit status, exactly process.env, cwd and uid:gid', async () => {
    const file = processFile('full', {
      args: ['sh', '-c', 'env; echo --; pwd; echo "$(id -u):$(id -g)"; echo oops >&2; exit 5'],
      env: ['PATH=/bin:/usr/bin', 'GREETING=hello world'],
      cwd: '/tmp',
      user: { uid: 1000, gid: 1001 },
    });
    const r = await proxrun(root, ['exec', '--process', file, id], { env });
    assert.equal(r.exitCode, 5, describeResult(r));
    const lines = r.stdout.split('\n');
    const marker = lines.indexOf('--');
    assert.ok(marker > 0, r.stdout);
    // sh itself adds PWD, SHLVL, OLDPWD; HOME comes from the CT's /etc/passwd as runc sets it; nothing
    // else may appear (no container=lxc, no PROXRUN_LAUNCH_n, nothing of proxrun's).
    const seen = lines.slice(0, marker).filter((v) => !/^(PWD|SHLVL|OLDPWD)=/.test(v)).sort();
    assert.deepEqual(seen, ['GREETING=hello world', 'HOME=/home/app', 'PATH=/bin:/usr/bin']);
    assert.deepEqual(lines.slice(marker + 1), ['/tmp', '1000:1001', '']);
    assert.equal(r.stderr, 'oops\n');
  });

  test('inline form starts from the container process and applies --env, --cwd, --user', async () => {
    const r = await proxrun(root, ['exec', '--env', 'EXTRA=1', '--cwd', '/etc', '--user', '65534:65534', id, 'sh', '-c', 'echo "$FROM_BUNDLE $EXTRA $(pwd) $(id -u):$(id -g)"'], { env });
    assert.equal(r.exitCode, 0, describeResult(r));
    assert.equal(r.stdout, 'yes 1 /etc 65534:65534\n');
  });

  test('the exec runs in the CT: its pid namespace and hostname, not the host', async () => {
    const r = await proxrun(root, ['exec', id, 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; hostname'], { env });
    assert.equal(r.exitCode, 0, describeResult(r));
    const [init, hostname] = r.stdout.split('\n');
    assert.match(init ?? '', /\/\.proxrun\/busybox sh \/\.proxrun\/init/, 'PID 1 seen by the exec is the CT init');
    assert.equal(hostname, 'proxrun-test');
  });

  test('an exec killed by a signal gives 128+N; a missing cwd is a runtime failure (255)', async () => {
    const killed = await proxrun(root, ['exec', id, 'sh', '-c', 'kill -TERM $$'], { env });
    assert.equal(killed.exitCode, 143, describeResult(killed));
    const noCwd = await proxrun(root, ['exec', '--cwd', '/does/not/exist', id, 'true'], { env });
    assert.equal(noCwd.exitCode, 255, describeResult(noCwd));
    assert.match(noCwd.stderr, /chdir to cwd \("\/does\/not\/exist"\) set in config.json failed/);
    const noProgram = await proxrun(root, ['exec', id, 'no-such-program'], { env });
    assert.equal(noProgram.exitCode, 255, describeResult(noProgram));
    assert.match(noProgram.stderr, /exec: "no-such-program": executable file not found in \$PATH/);
  });

  test('noNewPrivileges from --process or --no-new-privs reaches the exec', async () => {
    const withFlag = await proxrun(root, ['exec', '--process', processFile('nnp', { args: ['grep', 'NoNewPrivs', '/proc/self/status'], noNewPrivileges: true }), id], { env });
    assert.equal(withFlag.exitCode, 0, describeResult(withFlag));
    assert.match(withFlag.stdout, /NoNewPrivs:\s+1/);
    const cli = await proxrun(root, ['exec', '--no-new-privs', id, 'grep', 'NoNewPrivs', '/proc/self/status'], { env });
    assert.match(cli.stdout, /NoNewPrivs:\s+1/);
    const without = await proxrun(root, ['exec', '--process', processFile('nonnp', { args: ['grep', 'NoNewPrivs', '/proc/self/status'] }), id], { env });
    assert.match(without.stdout, /NoNewPrivs:\s+0/);
  });

  test('--detach --pid-file: digits only, the pid runs the command in the CT and ends with it', async () => {
    const pidFile = path.join(work, 'detached.pid');
    const marker = `detached-${process.pid}`;
    // It runs until the test lets it end (the go file), not for a guessed while.
    const file = processFile('detached', { args: ['sh', '-c', `echo ran > /tmp/${marker}; while [ ! -e /tmp/${marker}.go ]; do usleep 20000; done`] });
    const outDir = fs.mkdtempSync(path.join(work, 'detached-'));
    const { exitCode: code } = await proxrunToFiles(root, ['exec', '--detach', '--pid-file', pidFile, '--process', file, id], outDir, env);
    assert.equal(code, 0, fs.readFileSync(path.join(outDir, 'stderr'), 'utf8'));
    fs.rmSync(file); // what the shim does as soon as exec returns
    const pidText = fs.readFileSync(pidFile, 'utf8');
    assert.match(pidText, /^\d+$/);
    const cmdline = fs.readFileSync(`/proc/${pidText}/cmdline`, 'utf8').split('\0');
    // The pid file names the exec's stand-in (a busybox sh script that forwards signals), which runs lxc-attach.
    assert.ok(cmdline.includes('proxrun-exec') && cmdline.some((a) => path.basename(a) === 'lxc-attach'), cmdline.join(' '));
    const check = await proxrun(root, ['exec', id, 'cat', `/tmp/${marker}`], { env });
    assert.equal(check.stdout, 'ran\n', describeResult(check));
    assert.equal((await proxrun(root, ['exec', id, 'touch', `/tmp/${marker}.go`], { env })).exitCode, 0);
    await pollFor(() => {
      try {
        const stat = fs.readFileSync(`/proc/${pidText}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z') ? true : undefined;
      } catch {
        return true;
      }
    }, { timeoutMs: 60_000, description: 'the detached exec to end' });
  });

  test('--additional-gids and --cap reach the exec; user, groups and capabilities are set by the launcher', async () => {
    const r = await proxrun(root, ['exec', '--user', '1000:1000', '--additional-gids', '5', '--additional-gids', '7', '--cap', 'CAP_NET_RAW', id, 'sh', '-c', 'id -G; grep -E "^Cap(Eff|Amb)" /proc/self/status'], { env });
    assert.equal(r.exitCode, 0, describeResult(r));
    // The bundle gives CAP_KILL (effective, permitted); --cap adds CAP_NET_RAW to the bounding, effective,
    // permitted and ambient sets, but an ambient capability must be inheritable too, so none is ambient
    // and a non-root user keeps nothing across execve (as in runc).
    assert.equal(r.stdout, '1000 5 7\nCapEff:\t0000000000000000\nCapAmb:\t0000000000000000\n');
    const root0 = await proxrun(root, ['exec', '--cap', 'CAP_NET_RAW', id, 'grep', '^CapEff', '/proc/self/status'], { env });
    assert.equal(root0.stdout, 'CapEff:\t0000000000002020\n', 'root gets CAP_KILL and CAP_NET_RAW');
  });

  test('terminal mode and other unsupported options are refused before anything runs', async () => {
    const marker = `/tmp/never-${process.pid}`;
    const refused: Array<[string[], RegExp]> = [
      [['--tty'], /not supported by the proxmox-lxc backend/],
      [['--console-socket', '/tmp/nowhere.sock'], /not supported by the proxmox-lxc backend/],
      [['--apparmor', 'x'], /not supported by the proxmox-lxc backend/],
      [['--cap', 'CAP_SYS_MODULE'], /process\.capabilities\.bounding: CAP_SYS_MODULE outside the container's bounding set/],
    ];
    for (const [extra, why] of refused) {
      const r = await proxrun(root, ['exec', ...extra, id, 'touch', marker], { env });
      assert.notEqual(r.exitCode, 0, `${extra.join(' ')}: ${describeResult(r)}`);
      assert.match(r.stderr, why);
    }
    const check = await proxrun(root, ['exec', id, 'ls', marker], { env });
    assert.notEqual(check.exitCode, 0, 'a refused exec must not have run');
  });

  test('exec on a stopped container fails with "container not running" and 255', async () => {
    const killed = await proxrun(root, ['kill', id, 'KILL'], { env });
    assert.equal(killed.exitCode, 0, describeResult(killed));
    await pollFor(async () => {
      const st = await proxrun(root, ['state', id], { env });
      return (JSON.parse(st.stdout) as { status: string }).status === 'stopped' ? true : undefined;
    }, { timeoutMs: 30_000, description: 'the CT to stop' });
    const r = await proxrun(root, ['exec', id, 'true'], { env });
    assert.equal(r.exitCode, 255, describeResult(r));
    assert.match(r.stderr, /container not running/);
    const deleted = await proxrun(root, ['delete', '--force', id], { env });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assert.deepEqual(sim.ctVmids(), []);
    assert.deepEqual(sim.lxcContainers(), []);
  });
});
