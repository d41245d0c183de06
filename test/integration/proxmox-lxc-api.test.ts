/**
 * proxrun with the proxmox-lxc backend over the API transport (token, pinned fingerprint) on the
 * simulator with real LXC: output, exit status, kill and delete work as over the CLI, no node tool
 * (`pct`, `pvesm`, `pvesh`) is run, and the token secret never appears in any process's argv,
 * in proxrun's output or log, or in the simulator's request log. The simulator is used as
 * `scripts/pve-sim start` leaves it: the directory delivery asks Proxmox where the rootfs volume is.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { monitorDirsOf, proxrunToFiles, recordedExitStatus, startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { describeResult, pollFor } from '../helpers/exec.js';
import { assertAllRequestsPassedSchema } from '../pve-sim/schema-audit.js';

const VMID_RANGE: readonly [number, number] = [640000, 644999];

interface StateJson {
  status: string;
  pid: number;
  annotations?: Record<string, string>;
}

/** Reads every process's argv while `during` runs; returns the argv lines holding `needle`. */
async function argvContaining<T>(needle: string, during: () => Promise<T>): Promise<{ result: T; hits: string[] }> {
  const hits = new Set<string>();
  let done = false;
  const scan = async (): Promise<void> => {
    while (!done) {
      for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
        try {
          const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          if (argv.includes(needle)) hits.add(argv.split('\0').join(' '));
        } catch {
          // gone
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const scanning = scan();
  try {
    const result = await during();
    return { result, hits: [...hits] };
  } finally {
    done = true;
    await scanning;
  }
}

describe('proxmox-lxc over the API transport', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let env: NodeJS.ProcessEnv;
  let root: string;
  let work: string;
  let logFile: string;
  let cliCallsBefore = 0;

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE, transport: 'api' });
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
    root = tempDir('proxrun-pveapi-root-');
    work = tempDir('proxrun-pveapi-work-');
    logFile = path.join(work, 'proxrun.log');
    cliCallsBefore = cliRequests();
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

  /** Requests the simulated node tools made (the request log names them `cli ...`). */
  function cliRequests(): number {
    const file = path.join(sim.root, 'requests.jsonl');
    if (!fs.existsSync(file)) return 0;
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('"source":"cli"')).length;
  }

  const run = (args: string[]) => proxrun(root, args, { env, globals: ['--log', logFile] });

  const state = async (id: string): Promise<StateJson> => {
    const r = await run(['state', id]);
    assert.equal(r.exitCode, 0, describeResult(r));
    return JSON.parse(r.stdout) as StateJson;
  };

  const bundle = (name: string, args: string[]): Promise<string> =>
    makeBundle(path.join(work, name), {
      args,
      edit: (config) => {
        (config['root'] as Record<string, unknown>)['readonly'] = false;
      },
    });

  test('on a simulator as scripts/pve-sim starts it, the directory delivery asks the API where the rootfs volume is', async () => {
    assert.equal(fs.existsSync(path.join(sim.pveDir, 'storage.cfg')), false, 'something wrote a storage.cfg into the simulator');
    const dir = await bundle('fresh', ['sh', '-c', 'test -x /bin/busybox && echo delivered']);
    const created = await proxrunToFiles(root, ['create', '--bundle', dir, 'fresh'], dir, env);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    const vmid = Number((await state('fresh')).annotations?.['io.proxrun.pve.vmid']);
    const asked = fs.readFileSync(path.join(sim.root, 'requests.jsonl'), 'utf8').split('\n').filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { method?: string; path?: string; status?: number })
      .filter((r) => r.method === 'GET' && decodeURIComponent(r.path ?? '') === `/nodes/${sim.node}/storage/local/content/local:${vmid}/subvol-${vmid}-disk-0.subvol`);
    assert.deepEqual(asked.map((r) => r.status), [200], 'proxrun asked Proxmox for the volume once');
    assert.equal(fs.existsSync(`/var/lib/vz/images/${vmid}`), false, 'the rootfs went to the host\'s /var/lib/vz');
    assert.equal((await run(['start', 'fresh'])).exitCode, 0);
    await pollFor(async () => ((await state('fresh')).status === 'stopped' ? true : undefined), { timeoutMs: 30_000, description: 'the app to end' });
    assert.equal(await pollFor(() => recordedExitStatus(vmid), { timeoutMs: 10_000, description: 'the exit status' }), 0);
    assert.equal(fs.readFileSync(created.stdoutFile, 'utf8'), 'delivered\n');
    assert.equal((await run(['delete', 'fresh'])).exitCode, 0);
    assert.deepEqual(sim.volumes(), []);
  });

  test('output, exit status 3, and a delete that leaves nothing; the secret is in no argv', async () => {
    const dir = await bundle('exit3', ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    const { result: created, hits } = await argvContaining(sim.tokenSecret, () =>
      proxrunToFiles(root, ['--log', logFile, 'create', '--bundle', dir, '--pid-file', path.join(dir, 'pid'), 'exit3'], dir, env),
    );
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    assert.deepEqual(hits, [], 'the token secret appeared in a command line');

    const st = await state('exit3');
    assert.equal(st.status, 'created');
    const vmid = Number(st.annotations?.['io.proxrun.pve.vmid']);
    assert.ok(vmid >= VMID_RANGE[0] && vmid <= VMID_RANGE[1], `vmid ${vmid} outside the range`);
    assert.deepEqual(sim.ctVmids(), [vmid]);
    assert.deepEqual(sim.templates(), [], 'the base template is removed right after create');

    const started = await run(['start', 'exit3']);
    assert.equal(started.exitCode, 0, describeResult(started));
    await pollFor(async () => ((await state('exit3')).status === 'stopped' ? true : undefined), { timeoutMs: 30_000, description: 'the app to end' });
    const status = await pollFor(() => recordedExitStatus(vmid), { timeoutMs: 60_000, description: 'the monitor to record the exit status' });
    assert.equal(status, 3);
    assert.equal(fs.readFileSync(created.stdoutFile, 'utf8'), 'out\n');
    assert.equal(fs.readFileSync(created.stderrFile, 'utf8'), 'err\n');

    const deleted = await run(['delete', 'exit3']);
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assert.deepEqual(sim.ctVmids(), []);
    assert.deepEqual(sim.lxcContainers(), []);
    assert.deepEqual(sim.volumes(), []);
    assert.deepEqual(sim.templates(), []);
    assert.deepEqual(monitorDirsOf(vmid), [], 'monitor folder left');
    assert.deepEqual(leftovers(root), []);
  });

  test('kill 15 through the monitor ends a sleep with 143; delete --force of a running CT', async () => {
    const dir = await bundle('sleep', ['sleep', '1000']);
    const created = await proxrunToFiles(root, ['--log', logFile, 'create', '--bundle', dir, 'sleep'], dir, env);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    assert.equal((await run(['start', 'sleep'])).exitCode, 0);
    const running = await state('sleep');
    assert.equal(running.status, 'running');
    const vmid = Number(running.annotations?.['io.proxrun.pve.vmid']);
    const killed = await run(['kill', 'sleep', '15']);
    assert.equal(killed.exitCode, 0, describeResult(killed));
    await pollFor(async () => ((await state('sleep')).status === 'stopped' ? true : undefined), { timeoutMs: 30_000, description: 'sleep to end' });
    assert.equal(await pollFor(() => recordedExitStatus(vmid), { timeoutMs: 60_000, description: 'the exit status' }), 143);
    assert.equal((await run(['delete', 'sleep'])).exitCode, 0);

    const dir2 = await bundle('force', ['sleep', '1000']);
    const created2 = await proxrunToFiles(root, ['--log', logFile, 'create', '--bundle', dir2, 'force'], dir2, env);
    assert.equal(created2.exitCode, 0, fs.readFileSync(created2.stderrFile, 'utf8'));
    assert.equal((await run(['start', 'force'])).exitCode, 0);
    const deleted = await run(['delete', '--force', 'force']);
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assert.deepEqual(sim.ctVmids(), []);
    assert.deepEqual(sim.lxcContainers(), []);
    assert.deepEqual(sim.volumes(), []);
    assert.deepEqual(leftovers(root), []);
  });

  test('a wrong token fails create with one line naming the Proxmox step, and leaves nothing', async () => {
    const badSecret = path.join(work, 'bad-token');
    fs.writeFileSync(badSecret, 'not-the-secret\n', { mode: 0o600 });
    const config = sim.writeConfig('bad-token.json', { tokenSecretFile: badSecret });
    const dir = await bundle('badtoken', ['true']);
    const r = await proxrun(root, ['create', '--bundle', dir, 'badtoken'], { env: { ...env, PROXRUN_CONFIG: config } });
    assert.notEqual(r.exitCode, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /proxmox-lxc create: proxmox (upload|nextid)[^:]*: .*authentication failure/i);
    assert.equal(r.stderr.includes('not-the-secret'), false, 'the secret is in the error');
    assert.deepEqual(sim.ctVmids(), []);
    assert.deepEqual(sim.templates(), []);
    assert.deepEqual(leftovers(root), []);
  });

  test('a token file readable by others is refused naming the key', async () => {
    const loose = path.join(work, 'loose-token');
    fs.writeFileSync(loose, `${sim.tokenSecret}\n`, { mode: 0o644 });
    fs.chmodSync(loose, 0o644);
    const config = sim.writeConfig('loose-token.json', { tokenSecretFile: loose });
    const dir = await bundle('loose', ['true']);
    const r = await proxrun(root, ['create', '--bundle', dir, 'loose'], { env: { ...env, PROXRUN_CONFIG: config } });
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /proxmox\.tokenSecretFile .* mode 0644/);
    assert.deepEqual(sim.ctVmids(), []);
    assert.deepEqual(leftovers(root), []);
  });

  test('no node tool ran, and the secret is in neither the log nor the request log', () => {
    assert.equal(cliRequests(), cliCallsBefore, 'the API transport ran a node tool');
    const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
    assert.equal(log.includes(sim.tokenSecret), false, 'the secret is in the proxrun log');
    const requests = fs.readFileSync(path.join(sim.root, 'requests.jsonl'), 'utf8');
    assert.ok(requests.includes('"POST'), 'the request log has the API calls');
    assert.equal(requests.includes(sim.tokenSecret), false, 'the secret is in the request log');
    assertAllRequestsPassedSchema(sim.root);
  });
});
