/**
 * The simulator without the official schema (its own rules, said at start, refusing and audited), fault injection in every
 * mode over API paths, tasks and CLI commands, the configurable 401 delay, storage content delete and
 * the OCI registry pull that fails as Proxmox does here. No containers run in this file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { RunningSim, assertAllRequestsPassedSchema, type HttpReply } from './sim-harness.js';

let sim: RunningSim | undefined;
let work = '';
const AUTH_DELAY_MS = 700;

function s(): RunningSim {
  if (!sim) throw new Error('simulator not started');
  return sim;
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pve-sim-extra-'));
  sim = await RunningSim.start({ nodes: 'pve1', schema: path.join(work, 'no-such-apidata.json'), authDelayMs: AUTH_DELAY_MS });
});

after(() => {
  try {
    sim?.stop();
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

function fault(args: string[]): void {
  const r = s().control(['fault', '--root', s().root, ...args]);
  assert.equal(r.code, 0, r.stderr);
}

/** Polls `probe` until it is true; fails naming `what` after a generous deadline. */
async function until(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A request that gives up after `ms` (a deadline for an answer): 'timeout', 'dropped' or the reply. */
async function within(ms: number, p: Promise<HttpReply>): Promise<HttpReply | 'timeout' | 'dropped'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([p.catch((): 'dropped' => 'dropped'), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('without the schema file the simulator says so, refuses with its own rules, and the audit uses them', async () => {
  assert.match(s().startLog, /official API schema .*no-such-apidata\.json not found: the simulator's own parameter rules apply/);
  assert.match(fs.readFileSync(path.join(s().root, 'daemon.log'), 'utf8'), /official API schema not found: using the simulator's own parameter rules/);
  assert.equal((await s().request('GET', '/cluster/nextid')).status, 200);
  assertAllRequestsPassedSchema(s().root);
  const bad = await s().request('POST', '/nodes/pve1/qemu', { vmid: '12', memory: '8', bogus: '1' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.message, 'Parameter verification failed.\n');
  assert.deepEqual(bad.json.errors, {
    vmid: 'value must have a minimum value of 100',
    memory: 'invalid format - format error\nmemory.current: value must have a minimum value of 16\n',
    bogus: 'property is not defined in schema and the schema does not allow additional properties',
  });
  const records = s().requests().filter((r) => r['path'] !== undefined);
  assert.ok(records.length >= 2);
  assert.ok(records.every((r) => r['rules'] === 'own'), 'every request was judged by the own rules');
  assert.deepEqual(records.filter((r) => r['schema'] !== 'passed').map((r) => r['path']), ['/nodes/pve1/qemu']);
  assert.throws(() => assertAllRequestsPassedSchema(s().root), /1 request\(s\) did not pass the PVE API parameter rules:\nPOST \/nodes\/pve1\/qemu \(own rules: failed\)/);
});

test('a bad token waits the configured 401 delay', async () => {
  const t0 = Date.now();
  const r = await s().request('GET', '/nodes', {}, { Authorization: `PVEAPIToken=${s().info.tokenId}=wrong` });
  assert.equal(r.status, 401);
  assert.ok(Date.now() - t0 >= AUTH_DELAY_MS, `401 came after ${Date.now() - t0} ms`);
});

test('API faults: slow delays, hang never answers, drop closes the connection, error answers 500; --count and --clear', async () => {
  fault(['--match', 'GET /nodes/*/storage', '--mode', 'slow', '--delay-ms', '600', '--count', '1']);
  const t0 = Date.now();
  const slow = await s().request('GET', '/nodes/pve1/storage');
  assert.equal(slow.status, 200);
  assert.ok(Date.now() - t0 >= 600, 'slow answered too early');
  // hang: once the simulator has taken the request (it records it with status 0), later requests are
  // answered while that one never is. Ordering of events, no clock.
  fault(['--match', 'GET /cluster/resources', '--mode', 'hang']);
  let hungAnswered = false;
  void s().request('GET', '/cluster/resources').then(() => { hungAnswered = true; }, () => { hungAnswered = true; });
  await until('the simulator to take the hung request', () => s().requests().some((r) => r['path'] === '/cluster/resources' && r['status'] === 0));
  fault(['--match', 'GET /nodes', '--mode', 'drop', '--count', '1']);
  assert.equal(await within(60_000, s().request('GET', '/nodes')), 'dropped');
  const after = await s().request('GET', '/nodes');
  assert.equal(after.status, 200, '--count 1 was used up');
  fault(['--match', 'POST /nodes/*/qemu', '--mode', 'error', '--count', '1', '--message', 'pmxcfs is read-only']);
  const err = await s().request('POST', '/nodes/pve1/qemu', { vmid: '299' });
  assert.equal(err.status, 500);
  assert.equal(err.reason, 'pmxcfs is read-only');
  assert.equal(err.json.message, 'pmxcfs is read-only\n');
  assert.equal(hungAnswered, false, 'the hung request got no answer while later ones were answered');
  fault(['--clear']);
  const cleared = await within(60_000, s().request('GET', '/cluster/resources'));
  assert.notEqual(cleared, 'timeout');
  assert.equal((cleared as HttpReply).status, 200);
});

test('task faults: slow, hang (stays running), drop (unexpected status), error with the message', async () => {
  fault(['--match', 'task qmcreate', '--mode', 'slow', '--delay-ms', '500', '--count', '1']);
  const t0 = Date.now();
  const slow = await s().task('pve1', 'POST', '/nodes/pve1/qemu', { vmid: '301' });
  assert.equal(slow.exitstatus, 'OK');
  assert.ok(Date.now() - t0 >= 500);
  fault(['--match', 'task qmdestroy', '--mode', 'hang', '--count', '1']);
  const hung = await s().request('DELETE', '/nodes/pve1/qemu/301');
  assert.equal(hung.status, 200);
  fault(['--match', 'task qmcreate', '--mode', 'drop', '--count', '1']);
  assert.equal((await s().task('pve1', 'POST', '/nodes/pve1/qemu', { vmid: '302' })).exitstatus, 'unexpected status');
  fault(['--match', 'task qmcreate', '--mode', 'error', '--count', '1', '--message', 'no space left']);
  assert.equal((await s().task('pve1', 'POST', '/nodes/pve1/qemu', { vmid: '303' })).exitstatus, 'no space left');
  // Two tasks started after the hung one have ended; the hung one still runs (ordering, no clock).
  const st = (await s().request('GET', `/nodes/pve1/tasks/${encodeURIComponent(hung.json.data as string)}/status`)).json.data as { status: string };
  assert.equal(st.status, 'running');
});

test('CLI faults: error exits 255 with the message, slow delays, hang never exits, drop kills the tool', async () => {
  fault(['--match', 'cli pvesm status', '--mode', 'error', '--count', '1', '--message', 'storage offline']);
  const e = s().tool('pve1', 'pvesm', ['status']);
  assert.equal(e.code, 255);
  assert.equal(e.stderr, 'storage offline\n');
  fault(['--match', 'cli pveversion', '--mode', 'slow', '--delay-ms', '500', '--count', '1']);
  const t0 = Date.now();
  assert.equal(s().tool('pve1', 'pveversion', []).code, 0);
  assert.ok(Date.now() - t0 >= 500);
  // hang: once the simulator has taken `pct list` (it records the command), later tool calls end
  // while that one does not. Ordering of events, no clock.
  fault(['--match', 'cli pct list', '--mode', 'hang', '--count', '1']);
  const bin = s().info.nodes['pve1']?.binDir ?? '';
  const hung = spawn(path.join(bin, 'pct'), ['list'], { stdio: 'ignore' });
  const hungEnd = new Promise<NodeJS.Signals | number | null>((resolve) => hung.once('exit', (code, signal) => resolve(signal ?? code)));
  try {
    await until('the simulator to take the hung pct list', () => s().requests().some((r) => JSON.stringify(r['command']) === '["pct","list"]'));
    fault(['--match', 'cli qm list', '--mode', 'drop', '--count', '1']);
    const dropped = spawnSync(path.join(bin, 'qm'), ['list'], { encoding: 'utf8' });
    assert.equal(dropped.status, null);
    assert.equal(dropped.signal, 'SIGKILL');
    assert.equal(s().tool('pve1', 'qm', ['list']).code, 0, 'the count was used up');
    const stat = fs.readFileSync(`/proc/${hung.pid ?? 0}/stat`, 'utf8');
    assert.notEqual(stat.slice(stat.lastIndexOf(')') + 2)[0], 'Z', 'pct list still runs after later tool calls ended');
  } finally {
    hung.kill('SIGKILL');
  }
  assert.equal(await hungEnd, 'SIGKILL');
});

test('storage content: an uploaded file is listed, its attributes give its path, it is deleted over the API, and pvesm free works too', async () => {
  const iso = path.join(work, 'tiny.iso');
  fs.writeFileSync(iso, Buffer.alloc(4096));
  const up = await s().upload('pve1', 'local', iso, 'iso');
  assert.equal(up.status, 200, up.json.message);
  assert.equal((await s().waitTask('pve1', up.json.data as string)).exitstatus, 'OK');
  const listed = async (): Promise<string[]> => ((await s().request('GET', '/nodes/pve1/storage/local/content')).json.data as Array<{ volid: string }>).map((v) => v.volid);
  assert.ok((await listed()).includes('local:iso/tiny.iso'));
  // Its attributes give the path pvesm path prints, by whole volume id or by name on the storage.
  const pvesmPath = s().tool('pve1', 'pvesm', ['path', 'local:iso/tiny.iso']);
  assert.equal(pvesmPath.code, 0, pvesmPath.stderr);
  for (const volume of ['local:iso/tiny.iso', 'iso/tiny.iso']) {
    const info = await s().request('GET', `/nodes/pve1/storage/local/content/${encodeURIComponent(volume)}`);
    assert.equal(info.status, 200, info.json.message);
    const file = pvesmPath.stdout.trim();
    assert.deepEqual(info.json.data, { path: file, size: 4096, used: fs.statSync(file).blocks * 512, format: 'iso' });
  }
  const mismatch = await s().request('GET', `/nodes/pve1/storage/local/content/${encodeURIComponent('other:iso/tiny.iso')}`);
  assert.equal(mismatch.status, 400);
  assert.deepEqual(mismatch.json.errors, { volume: 'storage ID mismatch (other != local)' });
  const missing = await s().request('GET', `/nodes/pve1/storage/local/content/${encodeURIComponent('local:iso/none.iso')}`);
  assert.equal(missing.status, 500);
  assert.equal(missing.json.message, "volume_size_info on 'local:iso/none.iso' failed - no format\n");
  const wrongExt = await s().upload('pve1', 'local', iso, 'vztmpl');
  assert.equal(wrongExt.status, 400);
  assert.equal(wrongExt.json.errors?.['filename'], 'wrong file extension');
  const del = await s().task('pve1', 'DELETE', `/nodes/pve1/storage/local/content/${encodeURIComponent('local:iso/tiny.iso')}`);
  assert.equal(del.exitstatus, 'OK');
  assert.ok(!(await listed()).includes('local:iso/tiny.iso'));
  const again = await s().upload('pve1', 'local', iso, 'iso', 'again.iso');
  await s().waitTask('pve1', again.json.data as string);
  const free = s().tool('pve1', 'pvesm', ['free', 'local:iso/again.iso']);
  assert.equal(free.code, 0, free.stderr);
  assert.ok(!(await listed()).includes('local:iso/again.iso'));
});

test('OCI registry pull fails as Proxmox does on a node without skopeo or without a reachable registry', async () => {
  const r = await s().request('POST', '/nodes/pve1/storage/local/oci-registry-pull', { reference: 'docker.io/library/busybox:latest' });
  if (fs.existsSync('/usr/bin/skopeo')) {
    assert.equal(r.status, 200);
    const st = await s().waitTask('pve1', r.json.data as string);
    assert.match(st.exitstatus ?? '', /^failed to pull OCI image 'docker\.io\/library\/busybox:latest'/);
  } else {
    assert.equal(r.status, 500);
    assert.equal(r.json.message, "Install 'skopeo' to pull OCI images from registries.\n");
  }
});
