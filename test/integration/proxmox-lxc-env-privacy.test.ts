/**
 * A container's environment and an exec's stay private (issue 10 point 4): with a CT running an
 * app whose process.env holds a secret and a detached exec whose env holds another, no other host
 * user (`nobody`) finds either in /run, the temp folder, the CT's files (rootfs volume, LXC and
 * Proxmox config) or any /proc/PID/cmdline or environ; no other non-root user inside the CT finds
 * them in any file or /proc entry it can read. Positive controls show the same searches do find
 * the secrets where they may be seen: by root on the host, and inside the CT by the app's own user.
 * The search runs as the other user itself (test/helpers/find-secret.mjs, secrets on its stdin).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeResult, runCommand } from '../helpers/exec.js';
import { leftovers, makeBundle, proxrun, REPO_ROOT, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { proxrunToFiles, startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { requireCommands, requireRoot } from '../helpers/host-setup.js';

const VMID_RANGE: readonly [number, number] = [745000, 745999];
const FIND_SECRET = path.join(REPO_ROOT, 'test/helpers/find-secret.mjs');

/** The search every in-CT user runs: secrets on stdin, file contents compared in the shell (no secret on any command line). */
const IN_CT_SEARCH = [
  'read -r s0; read -r s1',
  'for f in $(find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -type f -print 2>/dev/null) /.proxrun/* /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do',
  '  [ -f "$f" ] || continue',
  '  c=$(cat "$f" 2>/dev/null | tr "\\0" " ")',
  '  case $c in *"$s0"*) echo "0 $f" ;; esac',
  '  case $c in *"$s1"*) echo "1 $f" ;; esac',
  'done',
  'echo searched',
].join('\n');

describe('proxmox-lxc keeps process.env and an exec\'s env private', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let env: NodeJS.ProcessEnv;
  let root: string;
  let work: string;
  const id = 'envprivacy';
  const appSecret = `appsecret${randomBytes(12).toString('hex')}`;
  const execSecret = `execsecret${randomBytes(12).toString('hex')}`;

  before(async () => {
    requireRoot('the environment privacy test');
    requireBuilt();
    await requireCommands(['setpriv', 'lxc-attach']);
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE });
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
    root = tempDir('proxrun-envpriv-root-');
    // The caller's own files stay private, as engines keep them (containerd's and podman's are 0700).
    work = tempDir('proxrun-envpriv-work-');
    fs.chmodSync(work, 0o700);
    const bundle = await makeBundle(path.join(work, id), {
      args: ['sleep', '1000'],
      edit: (config) => {
        const proc = config['process'] as Record<string, unknown>;
        proc['user'] = { uid: 1000, gid: 1000 };
        proc['env'] = ['PATH=/bin:/usr/bin', `APP_SECRET=${appSecret}`];
        (config['root'] as Record<string, unknown>)['readonly'] = false;
      },
    });
    const created = await proxrunToFiles(root, ['create', '--bundle', bundle, id], bundle, env);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    const started = await proxrun(root, ['start', id], { env });
    assert.equal(started.exitCode, 0, describeResult(started));
    const processFile = path.join(work, 'exec.json');
    fs.writeFileSync(processFile, JSON.stringify({ args: ['sleep', '1000'], env: ['PATH=/bin', `EXEC_SECRET=${execSecret}`], cwd: '/', user: { uid: 1000, gid: 1000 } }), { mode: 0o600 });
    const out = fs.mkdtempSync(path.join(work, 'exec-'));
    const exec = await proxrunToFiles(root, ['exec', '--detach', '--pid-file', path.join(work, 'exec.pid'), '--process', processFile, id], out, env);
    assert.equal(exec.exitCode, 0, fs.readFileSync(exec.stderrFile, 'utf8'));
  });

  after(async () => {
    for (const leftover of leftovers(root)) await proxrun(root, ['delete', '--force', leftover], { env });
    const { destroyed } = await sim.stop();
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
    assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
  });

  /** find-secret.mjs as host uid:gid over `dirs`; returns `index<TAB>path` lines. */
  async function searchOnHost(uid: number, dirs: readonly string[]): Promise<string[]> {
    const r = await runCommand(['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, FIND_SECRET, ...dirs], { input: `${appSecret}\n${execSecret}\n`, timeoutMs: 300_000 });
    assert.equal(r.exitCode, 0, describeResult(r));
    return r.stdout.split('\n').filter((l) => l !== '');
  }

  /** The search as uid:gid in the CT, from a process file of its own (an inline exec would start from the app's env, as runc's does). */
  async function searchInCt(uid: number): Promise<string[]> {
    const file = path.join(work, `search-${uid}.json`);
    fs.writeFileSync(file, JSON.stringify({ args: ['sh', '-c', IN_CT_SEARCH], env: ['PATH=/bin:/usr/bin'], cwd: '/', user: { uid, gid: uid } }), { mode: 0o600 });
    const r = await proxrun(root, ['exec', '--process', file, id], { env, input: `${appSecret}\n${execSecret}\n`, timeoutMs: 300_000 });
    assert.equal(r.exitCode, 0, describeResult(r));
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines.pop(), 'searched', 'the search ran to its end');
    return lines;
  }

  test('the launcher input is 0400 and belongs to the CT root; the init script holds no env', () => {
    const record = JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as { backendData: { monitorDir: string } };
    const shared = path.join(record.backendData.monitorDir, 'shared');
    const st = fs.statSync(path.join(shared, 'process'));
    assert.equal(st.mode & 0o777, 0o400);
    assert.equal(st.uid, 100000, 'the CT root of an unprivileged CT');
    assert.ok(fs.readFileSync(path.join(shared, 'process'), 'utf8').includes(appSecret), 'the launcher input carries process.env');
    assert.ok(!fs.readFileSync(path.join(shared, 'init'), 'utf8').includes(appSecret));
  });

  test('root on the host finds both secrets in /proc (the search works)', async () => {
    const found = await searchOnHost(0, []);
    assert.ok(found.some((l) => l.startsWith('0\t/proc/') && l.endsWith('/environ')), found.join('\n'));
    assert.ok(found.some((l) => l.startsWith('1\t/proc/') && l.endsWith('/environ')), found.join('\n'));
    assert.ok(!found.some((l) => l.endsWith('/cmdline')), `a secret on a command line:\n${found.join('\n')}`);
  });

  test('nobody on the host finds neither in /run, the temp folder, the CT\'s files or /proc', async () => {
    const storage = path.join(sim.root, 'nodes', sim.node);
    const found = await searchOnHost(65534, ['/run', os.tmpdir(), sim.nodeInfo.lxcPath, sim.pveDir, storage]);
    assert.deepEqual(found, []);
  });

  test("inside the CT the app's own user sees its env (the search works), another non-root user sees neither", async () => {
    const own = await searchInCt(1000);
    assert.ok(own.some((l) => /^0 \/proc\/\d+\/environ$/.test(l)), own.join('\n'));
    assert.ok(own.some((l) => /^1 \/proc\/\d+\/environ$/.test(l)), own.join('\n'));
    assert.deepEqual(await searchInCt(2000), []);
  });
});
