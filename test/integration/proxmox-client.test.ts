/**
 * The Proxmox client against the real simulator (real LXC underneath), through both transports:
 * version, nextid, upload of a busybox template, create, config, start/status/stop/shutdown,
 * destroy with purge, storage content and volume delete, a failing task, a hung call, TLS trust,
 * and the token secret never leaving the Authorization header.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { RunningSim, repoRoot } from '../pve-sim/sim-harness.js';
import { makeBusyboxRootfs } from '../helpers/busybox-rootfs.js';
import { packPlainTemplate } from '../helpers/oci-archive.js';
import { createProxmoxClient, ProxmoxError, allocateAndCreate, type ProxmoxClient } from '../../src/proxmox/index.js';
import { addRawLxcEntries, editGuestConf, guestConfPath, removeRawLxcEntries } from '../../src/proxmox/conf-file.js';
import type { ProxrunConfig } from '../../src/oci/spec.js';

const NODE = 'pve1';
const RANGE: [number, number] = [100000, 100099];

let sim: RunningSim | undefined;
let work: string;
let templateFile: string;
let secretFile: string;
const createdVmids = new Set<number>();
/** Every error the client threw in this file: none may contain the token secret. */
const seenErrors: string[] = [];

function theSim(): RunningSim {
  if (!sim) throw new Error('simulator not started');
  return sim;
}

function settingsFor(transport: 'cli' | 'api', extra: NonNullable<ProxrunConfig['proxmox']> = {}): NonNullable<ProxrunConfig['proxmox']> {
  const info = theSim().info;
  const node = info.nodes[NODE];
  if (!node) throw new Error('no node pve1 in sim.json');
  const base: NonNullable<ProxrunConfig['proxmox']> =
    transport === 'cli'
      ? { transport, node: NODE, cliPath: node.binDir, pveDir: info.pveDir, timeoutSeconds: 60 }
      : { transport, node: NODE, apiUrl: info.apiUrl, tokenId: info.tokenId, tokenSecretFile: secretFile, fingerprint: info.fingerprint, pveDir: info.pveDir, timeoutSeconds: 60 };
  return { ...base, ...extra };
}

function fault(args: string[]): void {
  execFileSync(path.join(repoRoot, 'scripts/pve-sim'), ['fault', '--root', theSim().root, ...args], { stdio: 'inherit' });
}

/** Runs `fn`, expecting a rejection; records its message for the secret check. */
async function expectFailure(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof Error, 'rejected with an Error');
    seenErrors.push(err.message);
    return err;
  }
  assert.fail('expected a failure');
}

/** `promise`, or a rejection naming `what` when it has not settled after `ms`. */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`deadline passed waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function pollUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-pve-client-'));
  const rootfs = path.join(work, 'rootfs');
  await makeBusyboxRootfs(rootfs);
  // An init that stays up and exits on the halt signal (SIGPWR for unmanaged CTs) or SIGTERM.
  fs.writeFileSync(path.join(rootfs, 'sbin/init'), "#!/bin/sh\ntrap 'exit 0' PWR TERM\nwhile true; do sleep 1 & wait $!; done\n", { mode: 0o755 });
  templateFile = path.join(work, 'busybox.tar');
  await packPlainTemplate(rootfs, templateFile);
  sim = await RunningSim.start(NODE);
  secretFile = path.join(work, 'token-secret');
  fs.writeFileSync(secretFile, `${sim.info.tokenSecret}\n`, { mode: 0o600 });
});

after(async () => {
  try {
    if (sim) {
      for (const vmid of createdVmids) {
        const r = sim.tool(NODE, 'pct', ['destroy', String(vmid), '--force', '1', '--purge', '1']);
        if (r.code !== 0 && !/does not exist/.test(r.stderr)) process.stderr.write(`cleanup of CT ${vmid}: ${r.stderr}`);
      }
    }
  } finally {
    sim?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
});

for (const transport of ['cli', 'api'] as const) {
  describe(`${transport} transport`, () => {
    let client: ProxmoxClient;
    let volid: string;
    let vmid: number;

    before(() => {
      client = createProxmoxClient(settingsFor(transport));
    });

    test('version and nextid', async () => {
      assert.equal(client.transport, transport);
      const v = await client.version();
      assert.equal(v.release, '9.1');
      assert.match(v.version, /^9\.1\./);
      const next = await client.nextId();
      assert.ok(Number.isInteger(next) && next >= 100, `nextid ${next}`);
      assert.equal(await client.nextId(123456), 123456);
    });

    test('upload a template and see it in the storage', async () => {
      const filename = `proxrun-test-${transport}.tar`;
      volid = await client.uploadFile(NODE, 'local', 'vztmpl', templateFile, filename);
      assert.equal(volid, `local:vztmpl/${filename}`);
      const content = await client.storageContent(NODE, 'local', 'vztmpl');
      const entry = content.find((v) => v.volid === volid);
      assert.ok(entry, `${volid} listed in ${JSON.stringify(content.map((v) => v.volid))}`);
      assert.equal(entry.size, fs.statSync(templateFile).size);
      assert.equal(entry.content, 'vztmpl');
    });

    test('create a CT from it with a VMID from the range, then read, set and delete config keys', async () => {
      vmid = await allocateAndCreate(client, RANGE, async (id) => {
        createdVmids.add(id);
        await client.createCt(NODE, id, { ostemplate: volid, rootfs: 'local:0', hostname: `t-${transport}`, memory: 64, swap: 0 });
      }, { lockFile: path.join(work, 'vmid.lock') });
      assert.ok(vmid >= RANGE[0] && vmid <= RANGE[1], `vmid ${vmid} in range`);
      const conf = await client.ctConfig(NODE, vmid);
      assert.equal(conf['hostname'], `t-${transport}`);
      assert.equal(conf['memory'], 64);
      assert.equal(conf['unprivileged'], 1);
      await client.setCtConfig(NODE, vmid, { description: 'made by proxrun', cpuunits: 200 });
      const changed = await client.ctConfig(NODE, vmid);
      assert.equal(String(changed['description']).trim(), 'made by proxrun');
      assert.equal(changed['cpuunits'], 200);
      await client.setCtConfig(NODE, vmid, {}, ['description', 'cpuunits']);
      const removed = await client.ctConfig(NODE, vmid);
      assert.equal(removed['description'], undefined);
      assert.equal(removed['cpuunits'], undefined);
      const guests = await client.clusterGuests();
      assert.ok(guests.some((g) => g.vmid === vmid && g.type === 'lxc' && g.node === NODE));
    });

    test("a volume's host path comes from Proxmox: the CT's rootfs folder on the node's storage", async () => {
      const rootfs = String((await client.ctConfig(NODE, vmid))['rootfs']).split(',')[0] ?? '';
      assert.equal(rootfs, `local:${vmid}/subvol-${vmid}-disk-0.subvol`);
      const found = await client.volumePath(NODE, rootfs);
      assert.equal(found, path.join(theSim().root, 'nodes', NODE, 'var-lib-vz', 'images', String(vmid), `subvol-${vmid}-disk-0.subvol`));
      assert.ok(fs.statSync(found).isDirectory(), `${found} is not a folder`);
      await assert.rejects(client.volumePath(NODE, 'nocolon'), (e: unknown) => e instanceof ProxmoxError && /^proxmox volume path nocolon: /.test(e.message));
    });

    test('raw lxc keys written into the .conf file are what Proxmox then reports', async () => {
      const file = guestConfPath(theSim().info.pveDir, NODE, 'lxc', vmid);
      await editGuestConf(file, (conf) => addRawLxcEntries(conf, [{ key: 'lxc.init.cwd', value: '/tmp' }, { key: 'lxc.environment', value: 'PROXRUN_TEST=1' }]));
      const lxc = (await client.ctConfig(NODE, vmid))['lxc'];
      assert.ok(Array.isArray(lxc), `lxc is ${JSON.stringify(lxc)}`);
      assert.deepEqual(lxc.filter((pair) => Array.isArray(pair) && (pair[0] === 'lxc.init.cwd' || pair[0] === 'lxc.environment')), [['lxc.init.cwd', '/tmp'], ['lxc.environment', 'PROXRUN_TEST=1']]);
      await editGuestConf(file, (conf) => removeRawLxcEntries(conf, ['lxc.init.cwd', 'lxc.environment']));
      const after = (await client.ctConfig(NODE, vmid))['lxc'];
      assert.equal(JSON.stringify(after ?? []).includes('PROXRUN_TEST'), false);
    });

    test('start gives a running CT with an init pid; stop and shutdown stop it', async () => {
      assert.deepEqual(await client.ctStatus(NODE, vmid), { status: 'stopped' });
      await client.startCt(NODE, vmid);
      const running = await client.ctStatus(NODE, vmid);
      assert.equal(running.status, 'running');
      assert.ok(running.pid !== undefined && running.pid > 1, `pid ${String(running.pid)}`);
      assert.ok(fs.existsSync(`/proc/${running.pid}`), 'the init pid is a live host process');
      await client.stopCt(NODE, vmid);
      assert.equal((await client.ctStatus(NODE, vmid)).status, 'stopped');
      await pollUntil('the old init to be gone', async () => !fs.existsSync(`/proc/${running.pid}`));
      await client.startCt(NODE, vmid);
      assert.equal((await client.ctStatus(NODE, vmid)).status, 'running');
      await client.shutdownCt(NODE, vmid, { timeout: 20, forceStop: false });
      assert.equal((await client.ctStatus(NODE, vmid)).status, 'stopped');
    });

    test('a failing create task gives ProxmoxError with the step and the task message', async () => {
      fault(['--match', 'task vzcreate', '--mode', 'error', '--message', `boom-${transport}`, '--count', '1']);
      const id = RANGE[1] - (transport === 'cli' ? 1 : 2);
      createdVmids.add(id);
      const err = await expectFailure(() => client.createCt(NODE, id, { ostemplate: volid, rootfs: 'local:0' }));
      assert.ok(err instanceof ProxmoxError, err.message);
      assert.equal(err.step, `create CT ${id}`);
      assert.match(err.detail, new RegExp(`boom-${transport}`));
      assert.equal(err.message.includes('\n'), false, `one line: ${JSON.stringify(err.message)}`);
      // The simulator's injected task fault skips the create worker's own cleanup and leaves the
      // claimed config (lock: create), as a worker that died would. Destroy refuses a locked CT, as
      // Proxmox does (its destroy has no skiplock); unlocking first lets it go.
      const locked = await expectFailure(() => client.destroyCt(NODE, id, { force: true, purge: true }));
      assert.equal(locked.message, `proxmox destroy CT ${id}: CT is locked (create)`);
      assert.deepEqual(await client.activeTasks(NODE, id), [], 'no task of the CT runs any more');
      await client.unlockCt(NODE, id);
      await client.destroyCt(NODE, id, { force: true, purge: true });
      createdVmids.delete(id);
      assert.equal((await client.clusterGuests()).some((g) => g.vmid === id), false);
    });

    test('Proxmox refusals name the parameter; a missing CT names the step', async () => {
      const bad = await expectFailure(() => client.setCtConfig(NODE, vmid, { memory: 8 }));
      assert.ok(bad instanceof ProxmoxError);
      assert.equal(bad.step, `set config CT ${vmid}`);
      assert.match(bad.detail, /memory: value must have a minimum value of 16/);
      const missing = await expectFailure(() => client.ctStatus(NODE, 999999));
      assert.match(missing.message, /^proxmox status CT 999999: .*does not exist/);
    });

    test('a hung call times out with the configured timeout', async () => {
      const quick = createProxmoxClient(settingsFor(transport, { timeoutSeconds: 1 }));
      fault(['--match', transport === 'api' ? 'GET /version' : 'cli pvesh get', '--mode', 'hang', '--count', '1']);
      // The message names the configured timeout; the deadline below is for the failure to come at
      // all, long before the default 60 s would have passed. No duration is asserted.
      const err = await expectFailure(() => withDeadline(quick.version(), 45_000, 'the hung call to time out'));
      fault(['--clear']);
      assert.equal(err.message, 'proxmox version: timed out after 1 s');
    });

    test('destroy with purge removes the CT; the template volume can be deleted', async () => {
      await client.destroyCt(NODE, vmid, { force: true, purge: true });
      createdVmids.delete(vmid);
      assert.equal((await client.clusterGuests()).some((g) => g.vmid === vmid), false);
      await expectFailure(() => client.ctConfig(NODE, vmid));
      assert.equal(fs.existsSync(path.join(theSim().info.nodes[NODE]?.lxcPath ?? '/nonexistent', String(vmid))), false, 'no LXC container folder left');
      await client.deleteVolume(NODE, 'local', volid);
      const content = await client.storageContent(NODE, 'local', 'vztmpl');
      assert.equal(content.some((v) => v.volid === volid), false);
    });
  });
}

describe('API TLS trust and the token secret', () => {
  test('a wrong fingerprint is refused before any request is sent', async () => {
    const before = theSim().requests().length;
    const client = createProxmoxClient(settingsFor('api', { fingerprint: Array(32).fill('AB').join(':') }));
    const err = await expectFailure(() => client.version());
    assert.match(err.message, /^proxmox version: the certificate of 127\.0\.0\.1:\d+ has fingerprint [0-9A-F:]+, not the configured proxmox\.fingerprint$/);
    assert.equal(theSim().requests().length, before, 'the simulator received no request');
  });

  test('the fingerprint is compared case-insensitively', async () => {
    const client = createProxmoxClient(settingsFor('api', { fingerprint: theSim().info.fingerprint.toLowerCase() }));
    assert.equal((await client.version()).release, '9.1');
  });

  test('a CA file verifies chain and hostname; another CA and the system CAs are refused', async () => {
    const ca = path.join(theSim().root, 'pve-ssl.pem');
    const viaCa = createProxmoxClient(settingsFor('api', { fingerprint: undefined, caFile: ca }));
    assert.equal((await viaCa.version()).release, '9.1');
    const otherKey = path.join(work, 'other.key');
    const otherCa = path.join(work, 'other.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=other', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', otherKey, '-out', otherCa], { stdio: 'ignore' });
    const wrongCa = createProxmoxClient(settingsFor('api', { fingerprint: undefined, caFile: otherCa }));
    assert.match((await expectFailure(() => wrongCa.version())).message, /^proxmox version: .*(not trusted|self[- ]signed|certificate)/i);
    const systemCas = createProxmoxClient(settingsFor('api', { fingerprint: undefined }));
    assert.match((await expectFailure(() => systemCas.version())).message, /^proxmox version: .*(not trusted|self[- ]signed|certificate)/i);
  });

  test('a CA file is checked even with a fingerprint: both must hold', async () => {
    const ca = path.join(theSim().root, 'pve-ssl.pem');
    const both = createProxmoxClient(settingsFor('api', { caFile: ca }));
    assert.equal((await both.version()).release, '9.1');
    const otherKey = path.join(work, 'other-both.key');
    const otherCa = path.join(work, 'other-both.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=other', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', otherKey, '-out', otherCa], { stdio: 'ignore' });
    const before = theSim().requests().length;
    const wrongCa = createProxmoxClient(settingsFor('api', { caFile: otherCa }));
    assert.match((await expectFailure(() => wrongCa.version())).message, /^proxmox version: .*(not trusted|self[- ]signed|certificate)/i);
    const wrongPin = createProxmoxClient(settingsFor('api', { caFile: ca, fingerprint: Array(32).fill('AB').join(':') }));
    assert.match((await expectFailure(() => wrongPin.version())).message, /has fingerprint [0-9A-F:]+, not the configured proxmox\.fingerprint$/);
    assert.equal(theSim().requests().length, before, 'the simulator received no request');
  });

  test('a token secret file with mode 0644 is refused', () => {
    const loose = path.join(work, 'loose-secret');
    fs.writeFileSync(loose, theSim().info.tokenSecret, { mode: 0o644 });
    fs.chmodSync(loose, 0o644);
    assert.throws(() => createProxmoxClient(settingsFor('api', { tokenSecretFile: loose })), (err: unknown) => {
      assert.ok(err instanceof Error);
      seenErrors.push(err.message);
      assert.match(err.message, /proxmox\.tokenSecretFile .*loose-secret has mode 0644; it must be 0600 or stricter/);
      return true;
    });
  });

  test('a wrong secret gets 401 without echoing either secret', async () => {
    const wrong = path.join(work, 'wrong-secret');
    fs.writeFileSync(wrong, 'not-the-secret-4711', { mode: 0o600 });
    const client = createProxmoxClient(settingsFor('api', { tokenSecretFile: wrong }));
    const err = await expectFailure(() => client.version());
    assert.ok(err instanceof ProxmoxError);
    assert.equal(err.status, 401);
    assert.doesNotMatch(err.message, /not-the-secret-4711/);
  });

  test('the secret is in no error message and nowhere in the request log', () => {
    const secret = theSim().info.tokenSecret;
    assert.ok(seenErrors.length >= 8, `collected ${seenErrors.length} errors`);
    for (const message of seenErrors) assert.equal(message.includes(secret), false, message);
    const log = fs.readFileSync(path.join(theSim().root, 'requests.jsonl'), 'utf8');
    assert.ok(log.includes('/version'), 'the request log holds the requests');
    assert.equal(log.includes(secret), false);
  });

  test('no LXC container is left behind', () => {
    const lxcPath = theSim().info.nodes[NODE]?.lxcPath ?? '/nonexistent';
    const left = fs.existsSync(lxcPath) ? fs.readdirSync(lxcPath).filter((n) => /^\d+$/.test(n)) : [];
    assert.deepEqual(left, []);
  });
});
