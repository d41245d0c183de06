/**
 * Fault injection at each Proxmox step of the proxmox-lxc backend on the simulator (real LXC):
 * VMID allocation (nextid), template upload, the create task, the config write, the start task
 * (over the API and through `pct`), the monitor start, and the destroy at delete. Each failure is
 * one line naming the Proxmox step and its message (a failed task: its exit status text), and
 * leaves no CT, template, volume, LXC container, monitor folder or state behind. A hung API call
 * ends after proxmox.timeoutSeconds. The monitor outlives proxrun and records the app's real exit
 * status while the API is failing. The create protocol (issue 10): a start fault whose clean-up
 * fails too keeps the record, and the delete --force after it destroys the CT; a proxrun killed
 * (SIGKILL) while `pct create` or the create task hangs leaves a record from which delete --force
 * removes everything, the hung `pct` and the task included.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { monitorDirsOf, proxrunToFiles, recordedExitStatus, simToolProcesses, spawnProxrun, startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { describeResult, pollFor } from '../helpers/exec.js';

const VMID_RANGE: readonly [number, number] = [650000, 654999];

describe('proxmox-lxc under Proxmox faults', { timeout: 900_000 }, () => {
  let sim: PveSimEnv;
  let root: string;
  let work: string;
  let apiConfig: string;
  let counter = 0;

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE, transport: 'api' });
    apiConfig = sim.configFile;
    root = tempDir('proxrun-pvefault-root-');
    work = tempDir('proxrun-pvefault-work-');
  });

  afterEach(() => {
    sim.clearFaults();
  });

  after(async () => {
    const env = { ...process.env, PROXRUN_CONFIG: apiConfig };
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

  const bundle = (name: string, args: string[]): Promise<string> =>
    makeBundle(path.join(work, name), {
      args,
      edit: (config) => {
        (config['root'] as Record<string, unknown>)['readonly'] = false;
      },
    });

  const monitorFolders = (): string[] => {
    const out: string[] = [];
    for (let vmid = VMID_RANGE[0]; vmid < VMID_RANGE[0] + 50; vmid += 1) out.push(...monitorDirsOf(vmid));
    return out;
  };

  const assertNothingLeft = (): void => {
    assert.deepEqual(sim.ctVmids(), [], 'CT left');
    assert.deepEqual(sim.templates(), [], 'template left');
    assert.deepEqual(sim.volumes(), [], 'volume left');
    assert.deepEqual(sim.lxcContainers(), [], 'LXC container left');
    assert.deepEqual(monitorFolders(), [], 'monitor folder left');
    assert.deepEqual(leftovers(root), [], 'state left');
  };

  /** Runs a create that must fail; returns its single stderr line. */
  const failingCreate = async (fault: string[] | undefined, options: { config?: string; delivery?: 'archive'; env?: NodeJS.ProcessEnv } = {}): Promise<string> => {
    counter += 1;
    const id = `fault${counter}`;
    const config = options.config ?? (options.delivery === 'archive' ? sim.writeConfig('archive.json', { rootfsDelivery: 'archive' }) : apiConfig);
    if (fault !== undefined) sim.fault(fault);
    const dir = await bundle(id, ['sh', '-c', 'echo must-not-run']);
    // The deadline is for the failure to come at all; the message says which step failed and why.
    const r = await proxrun(root, ['create', '--bundle', dir, id], { env: { ...process.env, ...options.env, PROXRUN_CONFIG: config }, timeoutMs: 120_000 });
    assert.notEqual(r.exitCode, 0, describeResult(r));
    // proxrun's error is the last line; before it may only come what the monitor itself said
    // (it inherits stderr, as it inherits the shim's pipe), each line prefixed `proxrun monitor:`.
    const lines = r.stderr.trim().split('\n');
    assert.ok(lines.slice(0, -1).every((l) => l.startsWith('proxrun monitor: ')), `one error line expected:\n${r.stderr}`);
    assert.match(lines.at(-1) ?? '', /^(?!proxrun monitor)/);
    assertNothingLeft();
    return lines.at(-1) ?? '';
  };

  test('nextid failing (VMID allocation)', async () => {
    const line = await failingCreate(['--match', 'GET /cluster/nextid', '--mode', 'error', '--message', 'cluster filesystem not ready']);
    assert.match(line, /proxmox-lxc create: proxmox nextid: .*cluster filesystem not ready/);
  });

  test('template upload failing', async () => {
    const line = await failingCreate(['--match', 'POST /nodes/*/storage/*/upload', '--mode', 'error', '--message', 'storage full']);
    assert.match(line, /proxmox-lxc create: proxmox upload proxrun-base-[^:]+\.tar: .*storage full/);
  });

  test('the create task failing reports the task exit status text', async () => {
    const line = await failingCreate(['--match', 'task vzcreate', '--mode', 'error', '--message', 'unable to create CT - disk quota exceeded']);
    assert.match(line, /proxmox-lxc create: proxmox create CT 65\d{4}: unable to create CT - disk quota exceeded/);
  });

  test('the create task ending without a status (dropped)', async () => {
    const line = await failingCreate(['--match', 'task vzcreate', '--mode', 'drop']);
    assert.match(line, /proxmox-lxc create: proxmox create CT 65\d{4}: unexpected status/);
  });

  test('the config write after an archive import failing', async () => {
    const line = await failingCreate(['--match', 'PUT /nodes/*/lxc/*/config', '--mode', 'error', '--message', 'config locked by another task'], { delivery: 'archive' });
    assert.match(line, /proxmox-lxc create: proxmox set config CT 65\d{4}: .*config locked by another task/);
  });

  test('the start task failing, over the API', async () => {
    const line = await failingCreate(['--match', 'task vzstart', '--mode', 'error', '--message', 'startup for container failed']);
    assert.match(line, /proxmox-lxc create: proxmox start CT 65\d{4}: startup for container failed/);
  });

  test('pct start failing, over the CLI', async () => {
    const cli = sim.writeConfig('cli.json', { transport: 'cli' });
    const line = await failingCreate(['--match', 'cli pct start', '--mode', 'error', '--message', 'pct start refused'], { config: cli });
    assert.match(line, /proxmox-lxc create: proxmox [^:]*start[^:]*: .*pct start refused/);
  });

  test('the monitor failing to start (lxc-info on this node failing)', async () => {
    const fakeBin = path.join(work, 'fake-bin');
    fs.mkdirSync(fakeBin, { recursive: true });
    fs.writeFileSync(path.join(fakeBin, 'lxc-info'), '#!/bin/sh\necho "lxc-info: injected failure" >&2\nexit 1\n', { mode: 0o755 });
    const line = await failingCreate(undefined, { env: { PATH: `${fakeBin}:${process.env['PATH'] ?? ''}` } });
    assert.match(line, /proxmox-lxc create: start monitor: the container monitor ended before it was ready \(exit status 255\)/);
  });

  test('a hung API call ends after proxmox.timeoutSeconds', async () => {
    const config = sim.writeConfig('timeout.json', { timeoutSeconds: 2 });
    // The message names the configured timeout (the default would be 60 s); no clock is read here.
    const line = await failingCreate(['--match', 'POST /nodes/*/lxc', '--mode', 'hang'], { config });
    assert.match(line, /proxmox-lxc create: proxmox create CT 65\d{4}: timed out after 2 s/);
  });

  test('destroy failing at delete: one line naming it, the state kept, a retry cleans up', async () => {
    const dir = await bundle('deletefault', ['true']);
    const env = { ...process.env, PROXRUN_CONFIG: apiConfig };
    const created = await proxrunToFiles(root, ['create', '--bundle', dir, 'deletefault'], dir, env);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    sim.fault(['--match', 'task vzdestroy', '--mode', 'error', '--message', 'volume is busy', '--count', '1']);
    const failed = await proxrun(root, ['delete', '--force', 'deletefault'], { env });
    assert.notEqual(failed.exitCode, 0);
    assert.equal(failed.stderr.trim().split('\n').length, 1, failed.stderr);
    assert.match(failed.stderr, /proxmox-lxc delete: proxmox destroy CT 65\d{4}: volume is busy/);
    assert.deepEqual(leftovers(root), ['deletefault'], 'the state stays so that delete can be retried');
    const retried = await proxrun(root, ['delete', '--force', 'deletefault'], { env });
    assert.equal(retried.exitCode, 0, describeResult(retried));
    assertNothingLeft();
  });

  interface RecordJson {
    creating?: boolean;
    backendData: { vmid?: number };
    inflight?: Array<{ kind: string }>;
  }
  const readRecord = (id: string): RecordJson => JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as RecordJson;

  test('a start fault, then the clean-up\'s destroy failing too: the record stays, and delete --force destroys the CT', async () => {
    const id = 'startdestroy';
    const dir = await bundle(id, ['true']);
    const env = { ...process.env, PROXRUN_CONFIG: apiConfig };
    sim.fault(['--match', 'task vzstart', '--mode', 'error', '--message', 'startup for container failed', '--count', '1']);
    sim.fault(['--match', 'task vzdestroy', '--mode', 'error', '--message', 'volume is busy', '--count', '1']);
    const log = path.join(work, `${id}.log`);
    const r = await proxrun(root, ['--log', log, '--log-format', 'json', 'create', '--bundle', dir, id], { env, timeoutMs: 120_000 });
    assert.notEqual(r.exitCode, 0, describeResult(r));
    assert.match(r.stderr.trim().split('\n').at(-1) ?? '', /^proxmox-lxc create: proxmox start CT 65\d{4}: startup for container failed$/);
    assert.deepEqual(sim.faultRules(), [], 'both faults were hit');
    assert.deepEqual(leftovers(root), [id], 'the record stays');
    const record = readRecord(id);
    assert.equal(record.creating, true, 'still marked creating');
    assert.ok(record.backendData.vmid !== undefined && sim.ctVmids().includes(record.backendData.vmid), 'the CT it names is still in Proxmox');
    assert.match(fs.readFileSync(log, 'utf8'), /create of startdestroy failed and so did undoing it; the record stays for delete --force to retry: .*volume is busy/);
    const state = await proxrun(root, ['state', id], { env });
    assert.equal((JSON.parse(state.stdout) as { status: string }).status, 'creating');
    const deleted = await proxrun(root, ['delete', '--force', id], { env });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assertNothingLeft();
  });

  const killedCreates: Array<[string, 'cli' | 'api', string, 'process' | 'task']> = [
    ['pct create itself hangs (CLI)', 'cli', 'cli pct create', 'process'],
    ['the create task pct follows hangs (CLI)', 'cli', 'task vzcreate', 'process'],
    ['the create task hangs (API)', 'api', 'task vzcreate', 'task'],
  ];
  for (const [what, transport, match, inflight] of killedCreates) {
    test(`SIGKILL of proxrun while ${what}, then delete --force: nothing left`, async () => {
      counter += 1;
      const id = `killed${counter}`;
      const config = transport === 'cli' ? sim.writeConfig('cli.json', { transport: 'cli' }) : apiConfig;
      const env = { ...process.env, PROXRUN_CONFIG: config };
      const dir = await bundle(id, ['true']);
      sim.fault(['--match', match, '--mode', 'hang', '--count', '1']);
      const run = spawnProxrun(root, ['create', '--bundle', dir, id], path.join(work, `${id}.out`), env);
      try {
        await pollFor(() => (sim.faultRules().length === 0 ? true : undefined), { timeoutMs: 60_000, description: `proxrun reaching ${match}` });
        // What is in flight is recorded before proxrun waits on it; wait for that record, then kill.
        await pollFor(() => ((readRecord(id).inflight ?? []).some((c) => c.kind === inflight) ? true : undefined), { timeoutMs: 30_000, description: `the ${inflight} in flight recorded` });
      } finally {
        process.kill(run.pid, 'SIGKILL');
      }
      assert.equal(await run.exited, null, 'proxrun was killed');
      const record = readRecord(id);
      assert.equal(record.creating, true);
      assert.equal(typeof record.backendData.vmid, 'number', 'the VMID was recorded before Proxmox was asked to create');
      if (transport === 'cli') assert.notDeepEqual(simToolProcesses(sim.root), [], 'the hung pct outlived proxrun');
      const deleted = await proxrun(root, ['delete', '--force', id], { env, timeoutMs: 120_000 });
      assert.equal(deleted.exitCode, 0, describeResult(deleted));
      assertNothingLeft();
      assert.deepEqual(simToolProcesses(sim.root), [], 'no node tool of the killed create still runs');
    });
  }

  test('the monitor outlives proxrun and records the real exit status while the API fails', async () => {
    const dir = await bundle('survive', ['sh', '-c', 'while [ ! -e /go ]; do usleep 20000; done; echo done; exit 5']);
    const env = { ...process.env, PROXRUN_CONFIG: apiConfig };
    const created = await proxrunToFiles(root, ['create', '--bundle', dir, '--pid-file', path.join(dir, 'pid'), 'survive'], dir, env);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    const monitorPid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
    assert.ok(fs.existsSync(`/proc/${monitorPid}/cmdline`), 'the monitor is alive after proxrun exited');
    assert.equal((await proxrun(root, ['start', 'survive'], { env })).exitCode, 0);
    const st = JSON.parse((await proxrun(root, ['state', 'survive'], { env })).stdout) as { pid: number; annotations: Record<string, string> };
    const vmid = Number(st.annotations['io.proxrun.pve.vmid']);

    // The API goes away while the app ends.
    for (const match of ['GET /nodes/*/lxc/*/status/current', 'GET /nodes/*/lxc', 'GET /cluster/resources', 'GET /nodes/*/lxc/*/config']) {
      sim.fault(['--match', match, '--mode', 'drop']);
    }
    sim.fault(['--match', 'GET /nodes/*/tasks/*/status', '--mode', 'error', '--message', 'service unavailable']);
    fs.writeFileSync(`/proc/${st.pid}/root/go`, '');
    assert.equal(await pollFor(() => recordedExitStatus(vmid), { timeoutMs: 30_000, description: 'the recorded exit status' }), 5);
    await pollFor(() => (fs.existsSync(`/proc/${monitorPid}/cmdline`) && fs.readFileSync(`/proc/${monitorPid}/cmdline`, 'utf8') !== '' ? undefined : true), {
      timeoutMs: 10_000,
      description: 'the monitor to exit',
    });
    const state = await proxrun(root, ['state', 'survive'], { env });
    assert.equal(state.exitCode, 0, describeResult(state));
    assert.equal((JSON.parse(state.stdout) as { status: string }).status, 'stopped');
    assert.equal(fs.readFileSync(created.stdoutFile, 'utf8'), 'done\n');

    sim.clearFaults();
    const deleted = await proxrun(root, ['delete', 'survive'], { env });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assertNothingLeft();
  });
});
