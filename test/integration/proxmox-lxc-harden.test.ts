/**
 * proxmox-lxc on the simulator (CLI transport, real LXC), for what must hold beyond the happy path:
 * `run` without --detach waits for the app and exits with its status, its output and stdin passed
 * through and proxrun's signals forwarded, leaving nothing; a secret bound from a 0700 folder is
 * readable in the CT and by no other host user; input that cannot be honoured (a tmpfs option that
 * smuggles `rbind`, a newline in an option, a token file another user owns) is refused in one line
 * by `validate` and `create`, and nothing is made: no record, no CT.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MONITOR_BASE } from '../../src/backends/proxmox-lxc/monitor/monitor-location.js';
import { proxrunToFiles, startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, proxrun, PROXRUN_BIN, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { describeResult, pollFor } from '../helpers/exec.js';

const VMID_RANGE: readonly [number, number] = [731000, 731999];

interface RunResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

describe('proxmox-lxc: run, bind protection and refused input on the simulator', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let env: NodeJS.ProcessEnv;
  let root: string;
  let work: string;
  let counter = 0;

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE });
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
    root = tempDir('proxrun-harden-root-');
    work = tempDir('proxrun-harden-work-');
  });

  afterEach(async () => {
    for (const id of leftovers(root)) await proxrun(root, ['delete', '--force', id], { env });
    assert.deepEqual(leftovers(root), [], 'records left in the state root');
    assert.deepEqual(sim.ctVmids(), [], 'CTs left in Proxmox');
    assert.deepEqual(sim.lxcContainers(), [], 'LXC containers left');
  });

  after(async () => {
    if (sim === undefined) return;
    const { destroyed } = await sim.stop();
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
    assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
  });

  const bundle = async (args: string[], edit?: (c: Record<string, unknown>) => void): Promise<{ dir: string; id: string }> => {
    counter += 1;
    const id = `harden-${counter}`;
    const dir = await makeBundle(path.join(work, id), {
      args,
      edit: (config) => {
        (config['root'] as Record<string, unknown>)['readonly'] = false;
        edit?.(config);
      },
    });
    return { dir, id };
  };

  /** `proxrun run` with stdin from `input`, stdout and stderr on files; `onStart` gets its pid and the stdout file. */
  const runAttached = async (dir: string, id: string, input: string, onStart?: (pid: number, stdoutFile: string) => Promise<void>): Promise<RunResult> => {
    const inFile = path.join(dir, 'stdin');
    fs.writeFileSync(inFile, input);
    const files = { stdout: path.join(dir, 'run.out'), stderr: path.join(dir, 'run.err') };
    const fds = [fs.openSync(inFile, 'r'), fs.openSync(files.stdout, 'w'), fs.openSync(files.stderr, 'w')] as const;
    const child = spawn(PROXRUN_BIN, ['--root', root, 'run', '--bundle', dir, id], { stdio: [...fds], env });
    for (const fd of fds) fs.closeSync(fd);
    const exited = new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('proxrun run did not exit within 240 s'));
      }, 240_000);
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    if (onStart !== undefined && child.pid !== undefined) await onStart(child.pid, files.stdout);
    const exitCode = await exited;
    return { exitCode, stdout: fs.readFileSync(files.stdout, 'utf8'), stderr: fs.readFileSync(files.stderr, 'utf8') };
  };

  test('run without --detach waits for the app and exits with its status; stdout, stderr and stdin pass through; nothing is left', async () => {
    const { dir, id } = await bundle(['sh', '-c', 'read line; echo "out $line"; echo err >&2; exit 3']);
    const r = await runAttached(dir, id, 'from-stdin\n');
    assert.equal(r.exitCode, 3, r.stderr);
    assert.equal(r.stdout, 'out from-stdin\n');
    assert.equal(r.stderr, 'err\n');
    assert.deepEqual(leftovers(root), [], 'run leaves no record');
    assert.deepEqual(sim.ctVmids(), [], 'run leaves no CT');
  });

  test('run without --detach forwards a SIGTERM proxrun gets to the app, and exits with what the app made of it', async () => {
    const { dir, id } = await bundle(['sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 1 & wait $!; done']);
    const r = await runAttached(dir, id, '', async (pid, stdoutFile) => {
      await pollFor(() => (fs.readFileSync(stdoutFile, 'utf8').includes('ready\n') ? true : undefined), { timeoutMs: 120_000, description: 'the app to start' });
      process.kill(pid, 'SIGTERM');
    });
    assert.equal(r.exitCode, 7, r.stderr);
    assert.equal(r.stdout, 'ready\ngot-term\n');
    assert.deepEqual(leftovers(root), []);
  });

  test('a secret bound from a 0700 folder is read in the CT; no other host user reads it anywhere under the monitor folders', async () => {
    const runroot = path.join(work, 'runroot');
    fs.mkdirSync(runroot, { mode: 0o700 });
    const secret = path.join(runroot, 'db-password');
    fs.writeFileSync(secret, 'S3CRET-harden-4711\n', { mode: 0o444 });
    fs.chmodSync(secret, 0o444);
    const { dir, id } = await bundle(['sh', '-c', 'cat /run/secrets/db; sleep 600'], (config) => {
      (config['mounts'] as unknown[]).push({ destination: '/run/secrets/db', type: 'bind', source: secret, options: ['bind', 'ro'] });
    });
    const created = await proxrunToFiles(root, ['create', '--bundle', dir, id], dir, env);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    try {
      const started = await proxrun(root, ['start', id], { env });
      assert.equal(started.exitCode, 0, describeResult(started));
      await pollFor(() => (fs.readFileSync(created.stdoutFile, 'utf8') === 'S3CRET-harden-4711\n' ? true : undefined), { timeoutMs: 60_000, description: 'the app to print the secret' });
      const scan = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'grep', '-rls', 'S3CRET-harden-4711', MONITOR_BASE], { encoding: 'utf8' });
      assert.equal(scan.stdout, '', `user nobody reads the secret in ${scan.stdout}`);
    } finally {
      const deleted = await proxrun(root, ['delete', '--force', id], { env });
      assert.equal(deleted.exitCode, 0, describeResult(deleted));
    }
  });

  const refusedBeforeAnythingIsMade = async (dir: string, id: string, pattern: RegExp, extraEnv: NodeJS.ProcessEnv = {}): Promise<void> => {
    const created = await proxrun(root, ['create', '--bundle', dir, id], { env: { ...env, ...extraEnv } });
    assert.notEqual(created.exitCode, 0, describeResult(created));
    assert.equal(created.stderr.trim().split('\n').length, 1, describeResult(created));
    assert.match(created.stderr, pattern);
    assert.deepEqual(leftovers(root), [], 'a record was left');
    assert.deepEqual(sim.ctVmids(), [], 'a CT was made');
    assert.deepEqual(sim.templates(), [], 'a template was uploaded');
  };

  test('a tmpfs option that smuggles rbind, or a newline, is refused by validate and create; nothing is made', async () => {
    for (const option of ['size=1m,rbind', 'size=1m\nlxc.mount.entry=/ mnt none rbind 0 0']) {
      const { dir, id } = await bundle(['true'], (config) => {
        (config['mounts'] as unknown[]).push({ source: '/', type: 'tmpfs', destination: '/mnt', options: [option] });
      });
      const validated = await proxrun(root, ['validate', '--bundle', dir], { env });
      assert.equal(validated.exitCode, 1, describeResult(validated));
      assert.match(validated.stdout, /\/mounts\/3\/options\/0: .*the value of size must match/);
      await refusedBeforeAnythingIsMade(dir, id, /\/mounts\/3\/options\/0: .*the value of size must match/);
    }
  });

  test('a token file another user owns is refused naming the key; nothing is made', async () => {
    const info = JSON.parse(fs.readFileSync(path.join(sim.root, 'sim.json'), 'utf8')) as { apiUrl: string; tokenId: string; tokenSecret: string; fingerprint: string };
    const folder = path.join(work, 'token-folder');
    fs.mkdirSync(folder, { mode: 0o700 });
    const token = path.join(folder, 'token');
    fs.writeFileSync(token, `${info.tokenSecret}\n`, { mode: 0o600 });
    fs.chownSync(token, 65534, 65534);
    const config = sim.writeConfig('foreign-token.json', { transport: 'api', apiUrl: info.apiUrl, tokenId: info.tokenId, tokenSecretFile: token, fingerprint: info.fingerprint });
    const { dir, id } = await bundle(['true']);
    await refusedBeforeAnythingIsMade(dir, id, new RegExp(`proxmox\\.tokenSecretFile ${token} belongs to uid 65534`), { PROXRUN_CONFIG: config });
  });
});
