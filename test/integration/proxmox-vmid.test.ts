/**
 * VMID allocation on the simulator: 20 proxrun processes (half over the CLI, half over the API)
 * allocating and creating at once get 20 distinct ids inside the range; ids below the range are
 * probed past; an id another host takes between nextid and create is retried; a full range fails
 * with a clear error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { RunningSim, repoRoot } from '../pve-sim/sim-harness.js';
import { makeBusyboxRootfs } from '../helpers/busybox-rootfs.js';
import { packPlainTemplate } from '../helpers/oci-archive.js';
import { allocateAndCreate, createProxmoxClient, ProxmoxError, type ProxmoxClient } from '../../src/proxmox/index.js';
import type { ProxrunConfig } from '../../src/oci/spec.js';

const NODE = 'pve1';
let sim: RunningSim | undefined;
let work: string;
let lockFile: string;
let cliSettings: NonNullable<ProxrunConfig['proxmox']>;
let apiSettings: NonNullable<ProxrunConfig['proxmox']>;
let client: ProxmoxClient;
let volid: string;

function createParams(id: number): Record<string, string | number> {
  return { ostemplate: volid, rootfs: 'local:0', hostname: `v${id}`, memory: 32, swap: 0 };
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-pve-vmid-'));
  lockFile = path.join(work, 'lock', 'vmid.lock');
  const rootfs = path.join(work, 'rootfs');
  await makeBusyboxRootfs(rootfs);
  const template = path.join(work, 'busybox.tar');
  await packPlainTemplate(rootfs, template);
  sim = await RunningSim.start(NODE);
  const secretFile = path.join(work, 'secret');
  fs.writeFileSync(secretFile, sim.info.tokenSecret, { mode: 0o600 });
  const binDir = sim.info.nodes[NODE]?.binDir ?? '';
  cliSettings = { transport: 'cli', node: NODE, cliPath: binDir, timeoutSeconds: 120 };
  apiSettings = { transport: 'api', node: NODE, apiUrl: sim.info.apiUrl, tokenId: sim.info.tokenId, tokenSecretFile: secretFile, fingerprint: sim.info.fingerprint, timeoutSeconds: 120 };
  client = createProxmoxClient(cliSettings);
  volid = await client.uploadFile(NODE, 'local', 'vztmpl', template, 'vmid-test.tar');
});

after(async () => {
  try {
    if (sim) {
      const guests = await client.clusterGuests().catch(() => []);
      for (const g of guests) await client.destroyCt(NODE, g.vmid, { force: true, purge: true }).catch((e: unknown) => process.stderr.write(`cleanup: ${String(e)}\n`));
    }
  } finally {
    sim?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
});

async function destroyAll(ids: readonly number[]): Promise<void> {
  for (const id of ids) await client.destroyCt(NODE, id, { force: true, purge: true });
}

test('20 concurrent allocations in separate processes get 20 distinct ids in the range', async () => {
  const range: [number, number] = [100000, 100099];
  const worker = path.join(work, 'allocate-worker.mts');
  const indexUrl = pathToFileURL(path.join(repoRoot, 'src/proxmox/index.ts')).href;
  fs.writeFileSync(worker, [
    `import { allocateAndCreate, createProxmoxClient } from ${JSON.stringify(indexUrl)};`,
    'const job = JSON.parse(process.env.ALLOC_JOB ?? "{}");',
    'const client = createProxmoxClient(job.settings);',
    'const vmid = await allocateAndCreate(client, job.range, (id) => client.createCt(job.node, id, { ostemplate: job.volid, rootfs: "local:0", hostname: `v${id}`, memory: 32, swap: 0 }), { lockFile: job.lockFile });',
    'process.stdout.write(JSON.stringify({ vmid }));',
  ].join('\n'));
  const runs = Array.from({ length: 20 }, (_, i) => {
    const job = { settings: i % 2 === 0 ? cliSettings : apiSettings, range, node: NODE, volid, lockFile };
    return execa(process.execPath, ['--import', 'tsx', worker], { cwd: repoRoot, env: { ALLOC_JOB: JSON.stringify(job) }, reject: false, timeout: 240_000 });
  });
  const results = await Promise.all(runs);
  for (const r of results) assert.equal(r.exitCode, 0, `worker failed: ${r.stderr}`);
  const ids = results.map((r) => (JSON.parse(r.stdout) as { vmid: number }).vmid);
  assert.equal(new Set(ids).size, 20, `distinct ids: ${ids.join(',')}`);
  for (const id of ids) assert.ok(id >= range[0] && id <= range[1], `${id} in range`);
  const guests = await client.clusterGuests();
  for (const id of ids) {
    assert.ok(guests.some((g) => g.vmid === id && g.type === 'lxc'), `CT ${id} exists`);
    assert.equal((await client.ctConfig(NODE, id))['hostname'], `v${id}`, `CT ${id} was created by the process that got it`);
  }
  await destroyAll(ids);
  assert.deepEqual((await client.clusterGuests()).filter((g) => ids.includes(g.vmid)), []);
});

test('a proposal below the range is probed past the ids already taken in it', async () => {
  const range: [number, number] = [100200, 100299];
  assert.ok((await client.nextId()) < range[0], 'Proxmox proposes an id below the range');
  await client.createCt(NODE, range[0], createParams(range[0]));
  await client.createCt(NODE, range[0] + 1, createParams(range[0] + 1));
  const id = await allocateAndCreate(client, range, (v) => client.createCt(NODE, v, createParams(v)), { lockFile });
  assert.equal(id, range[0] + 2);
  await destroyAll([range[0], range[0] + 1, id]);
});

test('an id another host takes between nextid and create is retried with the next one', async () => {
  const range: [number, number] = [100300, 100399];
  const otherHost = createProxmoxClient(apiSettings);
  const attempts: number[] = [];
  const id = await allocateAndCreate(client, range, async (v) => {
    attempts.push(v);
    // Another node's proxrun (not sharing this host's lock) wins the race for the first id.
    if (attempts.length === 1) await otherHost.createCt(NODE, v, createParams(v));
    await client.createCt(NODE, v, createParams(v));
  }, { lockFile });
  assert.equal(attempts.length, 2, `attempts ${attempts.join(',')}`);
  assert.notEqual(id, attempts[0]);
  assert.equal(id, attempts[1]);
  await destroyAll([attempts[0] ?? 0, id]);
});

test('a full range fails naming the range; other create errors are not retried', async () => {
  const range: [number, number] = [100400, 100400];
  await client.createCt(NODE, range[0], createParams(range[0]));
  let calls = 0;
  await assert.rejects(allocateAndCreate(client, range, async () => { calls += 1; }, { lockFile }), (err: unknown) => {
    assert.ok(err instanceof ProxmoxError);
    assert.equal(err.message, 'proxmox vmid allocation: no free VMID in proxmox.vmidRange [100400, 100400]');
    return true;
  });
  assert.equal(calls, 0);
  await destroyAll([range[0]]);
  await assert.rejects(
    allocateAndCreate(client, [100500, 100599], (v) => client.createCt(NODE, v, { ...createParams(v), memory: 8 }), { lockFile }),
    /^ProxmoxError: proxmox create CT 1005\d\d: memory: value must have a minimum value of 16$/,
  );
  assert.equal(fs.existsSync(lockFile), false, 'the lock is released after a failure');
});

test('a lock another user made, or a lock folder others may write, is refused at once naming it; nothing is created', async () => {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  fs.mkdirSync(lockFile);
  fs.chownSync(lockFile, 65534, 65534);
  let calls = 0;
  try {
    await assert.rejects(allocateAndCreate(client, [100600, 100699], async () => { calls += 1; }, { lockFile, lockWaitSeconds: 5 }), (err: unknown) => {
      assert.ok(err instanceof ProxmoxError);
      assert.equal(err.message, `proxmox vmid allocation: refusing ${lockFile}: it belongs to uid 65534, not to uid 0`);
      return true;
    });
  } finally {
    fs.rmSync(lockFile, { recursive: true, force: true });
  }
  const open = path.join(work, 'open-lock');
  fs.mkdirSync(open, { mode: 0o777 });
  fs.chmodSync(open, 0o777);
  await assert.rejects(allocateAndCreate(client, [100600, 100699], async () => { calls += 1; }, { lockFile: path.join(open, 'vmid.lock'), lockWaitSeconds: 5 }), {
    message: `proxmox vmid allocation: refusing ${open}: ${open} is writable by group or others (mode 0777)`,
  });
  assert.equal(calls, 0);
});
