/**
 * The simulator end to end with real LXC: templates uploaded over the API (multipart) and placed by
 * root on the node, containers created, started, inspected, shut down with their halt signal,
 * stopped and destroyed over the API and with `pct`; exit status on lxc-monitor; networking inside
 * the simulator's own namespace; two nodes; parallel creates; and `scripts/pve-sim stop` leaving
 * nothing behind.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { makeBusyboxRootfs } from '../helpers/busybox-rootfs.js';
import { ensureSubids, requireRoot } from '../helpers/host-setup.js';
import { mountsUnder, processesMentioning } from '../helpers/cleanup.js';
import { monitordAccepted } from '../helpers/lxc-monitor.js';
import { packOciArchive, packPlainTemplate } from '../helpers/oci-archive.js';
import { OFFICIAL_SCHEMA, RunningSim, assertAllRequestsPassedSchema, rulesUsed } from './sim-harness.js';
import { netnsExists, netnsLinks, netnsName } from './sim-netns.js';
import { loopDevicesFor } from './volumes.js';

let sim: RunningSim | undefined;
let work = '';
let plainTar = '';
let ociTar = '';
const monitors: ChildProcess[] = [];
const base = 700000 + Math.floor(Math.random() * 90000);
let nextVmid = base;
const vmid = (): number => (nextVmid += 1);

function s(): RunningSim {
  if (!sim) throw new Error('simulator not started');
  return sim;
}

// The report comes after the traps: a test that saw it may send the halt signal, which a PID 1
// without a handler for it would never get.
const APP = [
  '#!/bin/sh',
  "trap 'echo USR1 > /tmp/halt; exit 0' USR1",
  "trap 'echo TERM > /tmp/halt; exit 0' TERM",
  "trap 'echo PWR > /tmp/halt; exit 0' PWR",
  'echo "foo=$FOO uid=$(id -u) cwd=$(pwd)" > /tmp/report',
  'sleep 1000 &',
  'wait $!',
  '',
].join('\n');

before(async () => {
  requireRoot('sim-run.test.ts');
  await ensureSubids();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pve-sim-run-'));
  const rootfs = path.join(work, 'rootfs');
  await makeBusyboxRootfs(rootfs);
  fs.writeFileSync(path.join(rootfs, 'app.sh'), APP, { mode: 0o755 });
  fs.writeFileSync(path.join(rootfs, 'exit3.sh'), '#!/bin/sh\necho "printing before exit"\nexit 3\n', { mode: 0o755 });
  plainTar = path.join(work, 'busybox.tar');
  await packPlainTemplate(rootfs, plainTar);
  ociTar = path.join(work, 'busybox-oci.tar');
  await packOciArchive(ociTar, {
    layers: [{ dir: rootfs, compression: 'gzip' }],
    config: { Entrypoint: ['/bin/sh'], Cmd: ['/app.sh'], Env: ['FOO=from-image', 'PATH=/bin'], User: 'app', WorkingDir: '/home/app', StopSignal: 'SIGUSR1' },
  });
  sim = await RunningSim.start('pve1,pve2');
  // root on a node may place templates directly, as `pct create` users do with downloaded files.
  for (const node of ['pve1', 'pve2']) {
    const cache = path.join(path.dirname(s().info.nodes[node]?.lxcPath ?? ''), 'var-lib-vz/template/cache');
    fs.mkdirSync(cache, { recursive: true });
    fs.copyFileSync(plainTar, path.join(cache, 'busybox.tar'));
  }
});

after(() => {
  for (const m of monitors) m.kill('SIGTERM');
  try {
    sim?.stop();
  } finally {
    if (work !== '') fs.rmSync(work, { recursive: true, force: true });
  }
});

async function ctStatus(node: string, id: number): Promise<{ status: string; pid?: number }> {
  const r = await s().request('GET', `/nodes/${node}/lxc/${id}/status/current`);
  assert.equal(r.status, 200, r.json.message);
  return r.json.data as { status: string; pid?: number };
}

async function config(node: string, id: number): Promise<Record<string, unknown>> {
  const r = await s().request('GET', `/nodes/${node}/lxc/${id}/config`);
  assert.equal(r.status, 200, r.json.message);
  return r.json.data as Record<string, unknown>;
}

function pct(node: string, args: string[]): { code: number; stdout: string; stderr: string } {
  return s().tool(node, 'pct', args);
}

async function waitFor(what: string, timeoutMs: number, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let ociCt = 0;
let ociVolume = '';

test('API: OCI archive uploaded as multipart, created unprivileged on a size=0 directory, OCI values overwrite create-time entrypoint/env', async () => {
  const up = await s().upload('pve1', 'local', ociTar);
  assert.equal(up.status, 200, `${up.json.message ?? ''}${JSON.stringify(up.json.errors ?? {})}`);
  assert.equal((await s().waitTask('pve1', up.json.data as string)).exitstatus, 'OK');
  const content = await s().request('GET', '/nodes/pve1/storage/local/content', { content: 'vztmpl' });
  assert.ok((content.json.data as Array<{ volid: string }>).some((v) => v.volid === 'local:vztmpl/busybox-oci.tar'));

  const id = vmid();
  const created = await s().task('pve1', 'POST', '/nodes/pve1/lxc', {
    vmid: String(id), ostemplate: 'local:vztmpl/busybox-oci.tar', rootfs: 'local:0', entrypoint: '/bin/false', env: 'FOO=create-time', memory: '128',
  });
  assert.equal(created.exitstatus, 'WARNINGS: 3', 'no os-release: Proxmox warns three times and falls back to unmanaged');
  const createLog = await s().taskLog('pve1', created.upid);
  assert.ok(createLog.includes("WARN: /etc/os-release file not found and autodetection failed, falling back to 'unmanaged'"), createLog.join('\n'));
  assert.equal(createLog.at(-1), 'TASK WARNINGS: 3');
  const conf = await config('pve1', id);
  assert.equal(conf['entrypoint'], '/bin/sh /app.sh', 'the image overwrote the create-time entrypoint');
  assert.match(String(conf['env']), /^FOO=from-image\0PATH=\/bin$/, 'the image overwrote the create-time env');
  assert.equal(conf['unprivileged'], 1);
  assert.equal(conf['cmode'], 'console');
  assert.deepEqual((conf['lxc'] as Array<[string, string]>).find(([k]) => k === 'lxc.signal.halt'), ['lxc.signal.halt', 'SIGUSR1']);
  const volid = String(conf['rootfs']).split(',')[0] ?? '';
  const p = s().tool('pve1', 'pvesm', ['path', volid]);
  assert.equal(p.code, 0, p.stderr);
  assert.ok(fs.statSync(p.stdout.trim()).isDirectory(), 'size=0 gives a plain directory');
  assert.equal(fs.statSync(path.join(p.stdout.trim(), 'app.sh')).uid, 100000, 'files belong to the mapped root');
  ociCt = id;
  ociVolume = p.stdout.trim();
});

test('API: start, status and list with pid, no network logged, image user/cwd/env reach the app', async () => {
  const id = ociCt;
  const started = await s().task('pve1', 'POST', `/nodes/pve1/lxc/${id}/status/start`);
  assert.equal(started.exitstatus, 'OK');
  assert.ok((await s().taskLog('pve1', started.upid)).some((l) => /container has no network/.test(l)), 'the start log says there is no network');
  const st = await ctStatus('pve1', id);
  assert.equal(st.status, 'running');
  assert.ok(Number.isInteger(st.pid) && (st.pid ?? 0) > 1, 'status/current has the init pid');
  const list = (await s().request('GET', '/nodes/pve1/lxc')).json.data as Array<{ vmid: number; pid?: number; status: string }>;
  assert.equal(list.find((c) => c.vmid === id)?.pid, st.pid);
  const uidMap = fs.readFileSync(`/proc/${st.pid}/uid_map`, 'utf8').trim().split(/\s+/);
  assert.deepEqual(uidMap, ['0', '100000', '65536'], 'unprivileged: root maps to 100000');
  const report = path.join(`/proc/${st.pid}/root`, 'tmp/report');
  await waitFor('the app report', 60_000, () => fs.existsSync(report) && fs.readFileSync(report, 'utf8').endsWith('\n'));
  assert.equal(fs.readFileSync(report, 'utf8'), 'foo=from-image uid=1000 cwd=/home/app\n');
  const verbose = pct('pve1', ['status', String(id), '--verbose']);
  assert.equal(verbose.code, 0, verbose.stderr);
  assert.match(verbose.stdout, new RegExp(`^pid: ${st.pid}$`, 'm'));
  assert.match(verbose.stdout, /^status: running$/m);
});

test('API: a change to a running CT goes to [pve:pending]; current=1 shows the running values; revert drops it', async () => {
  const id = ociCt;
  const put = await s().request('PUT', `/nodes/pve1/lxc/${id}/config`, { entrypoint: '/bin/sh /app.sh --next', memory: '192' });
  assert.equal(put.status, 200, put.json.message);
  const file = fs.readFileSync(path.join(s().info.pveDir, `nodes/pve1/lxc/${id}.conf`), 'utf8');
  const [main, pending = ''] = file.split('[pve:pending]');
  assert.match(main ?? '', /^entrypoint: \/bin\/sh \/app\.sh$/m, 'the running config keeps the old entrypoint');
  assert.match(main ?? '', /^memory: 192$/m, 'memory is hot-plugged');
  assert.match(pending, /^entrypoint: \/bin\/sh \/app\.sh --next$/m);
  const current = (await s().request('GET', `/nodes/pve1/lxc/${id}/config`, { current: '1' })).json.data as Record<string, unknown>;
  assert.equal(current['entrypoint'], '/bin/sh /app.sh');
  assert.equal((await config('pve1', id))['entrypoint'], '/bin/sh /app.sh --next', 'the default view shows pending values');
  const revert = await s().request('PUT', `/nodes/pve1/lxc/${id}/config`, { revert: 'entrypoint' });
  assert.equal(revert.status, 200, revert.json.message);
  assert.ok(!fs.readFileSync(path.join(s().info.pveDir, `nodes/pve1/lxc/${id}.conf`), 'utf8').includes('[pve:pending]'));
});

test('pct exec returns the command status; push and pull copy files of a running CT', () => {
  const id = String(ociCt);
  assert.equal(pct('pve1', ['exec', id, '--', 'sh', '-c', 'exit 7']).code, 7);
  const echo = pct('pve1', ['exec', id, '--', 'sh', '-c', 'echo hello from $(hostname)']);
  assert.equal(echo.code, 0, echo.stderr);
  assert.equal(echo.stdout, `hello from CT${id}\n`);
  const src = path.join(work, 'push-src');
  fs.writeFileSync(src, 'pushed content\n');
  const push = pct('pve1', ['push', id, src, '/tmp/pushed', '--user', 'app', '--perms', '0640']);
  assert.equal(push.code, 0, push.stderr);
  const stat = pct('pve1', ['exec', id, '--', 'stat', '-c', '%u %a', '/tmp/pushed']);
  assert.equal(stat.stdout, '1000 640\n');
  const dest = path.join(work, 'pulled');
  const pull = pct('pve1', ['pull', id, '/tmp/pushed', dest]);
  assert.equal(pull.code, 0, pull.stderr);
  assert.equal(fs.readFileSync(dest, 'utf8'), 'pushed content\n');
});

test('API: shutdown sends the image StopSignal (lxc.signal.halt); exec/push on a stopped CT fail as pct does; destroy with purge', async () => {
  const id = ociCt;
  const down = await s().task('pve1', 'POST', `/nodes/pve1/lxc/${id}/status/shutdown`, { timeout: '20' });
  assert.equal(down.exitstatus, 'OK');
  assert.equal((await ctStatus('pve1', id)).status, 'stopped');
  assert.equal(fs.readFileSync(path.join(ociVolume, 'tmp/halt'), 'utf8'), 'USR1\n');
  const ex = pct('pve1', ['exec', String(id), '--', 'true']);
  assert.equal(ex.code, 255);
  assert.equal(ex.stderr, `container '${id}' not running!\n`);
  const push = pct('pve1', ['push', String(id), path.join(work, 'push-src'), '/tmp/x']);
  assert.equal(push.code, 255);
  assert.equal(push.stderr, 'can only push files to a running CT\n');
  const stopWhenStopped = await s().request('POST', `/nodes/pve1/lxc/${id}/status/stop`);
  assert.equal(stopWhenStopped.status, 500);
  const destroyed = await s().task('pve1', 'DELETE', `/nodes/pve1/lxc/${id}`, { purge: '1' });
  assert.equal(destroyed.exitstatus, 'OK');
  assert.equal((await s().request('GET', `/nodes/pve1/lxc/${id}/config`)).status, 500);
  assert.equal(fs.existsSync(ociVolume), false, 'the rootfs volume is gone');
});

test('CLI: pct create from a plain tar, start, status --verbose, shutdown with SIGPWR, stop, mount/unmount with lock, destroy --purge', async () => {
  const id = String(vmid());
  const c = pct('pve1', ['create', id, 'local:vztmpl/busybox.tar', '--rootfs', 'local:1', '--entrypoint', '/bin/sh /app.sh', '--env', 'FOO=cli', '--memory', '128']);
  assert.equal(c.code, 0, c.stderr);
  const conf = await config('pve1', Number(id));
  assert.equal(conf['unprivileged'], 1);
  assert.equal(conf['ostype'], 'unmanaged', 'no os-release in busybox');
  assert.match(String(conf['rootfs']), new RegExp(`^local:${id}/vm-${id}-disk-0\\.raw,size=1G$`));
  const start = pct('pve1', ['start', id]);
  assert.equal(start.code, 0, start.stderr);
  const verbose = pct('pve1', ['status', id, '--verbose']);
  const pid = /^pid: (\d+)$/m.exec(verbose.stdout)?.[1];
  assert.ok(pid !== undefined, verbose.stdout);
  await waitFor('the app report', 60_000, () => fs.existsSync(`/proc/${pid}/root/tmp/report`) && fs.readFileSync(`/proc/${pid}/root/tmp/report`, 'utf8').endsWith('\n'));
  assert.equal(fs.readFileSync(`/proc/${pid}/root/tmp/report`, 'utf8'), 'foo=cli uid=0 cwd=/\n');
  assert.equal(pct('pve1', ['exec', id, '--', 'sh', '-c', 'exit 42']).code, 42);
  const set = pct('pve1', ['set', id, '--entrypoint', '/bin/sh /app.sh next']);
  assert.equal(set.code, 0, set.stderr);
  assert.match(fs.readFileSync(path.join(s().info.pveDir, `nodes/pve1/lxc/${id}.conf`), 'utf8'), /\[pve:pending\]\nentrypoint: \/bin\/sh \/app\.sh next\n/);
  const shut = pct('pve1', ['shutdown', id, '--timeout', '20']);
  assert.equal(shut.code, 0, shut.stderr);
  assert.equal(pct('pve1', ['status', id]).stdout, 'status: stopped\n');
  const mount = pct('pve1', ['mount', id]);
  assert.equal(mount.code, 0, mount.stderr);
  const dir = path.join(s().info.nodes['pve1']?.lxcPath ?? '', id, 'rootfs');
  assert.equal(mount.stdout, `mounted CT ${id} in '${dir}'\n`);
  assert.equal(fs.readFileSync(path.join(dir, 'tmp/halt'), 'utf8'), 'PWR\n', 'a system CT is halted with SIGPWR');
  assert.equal((await config('pve1', Number(id)))['lock'], 'mounted');
  const locked = pct('pve1', ['start', id]);
  assert.equal(locked.code, 255);
  assert.equal(locked.stderr, 'CT is locked (mounted)\n');
  const un = pct('pve1', ['unmount', id]);
  assert.equal(un.code, 0, un.stderr);
  assert.equal(fs.existsSync(path.join(dir, 'app.sh')), false, 'nothing mounted any more');
  assert.equal((await config('pve1', Number(id)))['lock'], undefined);
  assert.equal(pct('pve1', ['start', id]).code, 0);
  const applied = fs.readFileSync(path.join(s().info.pveDir, `nodes/pve1/lxc/${id}.conf`), 'utf8');
  assert.ok(!applied.includes('[pve:pending]'), 'the start applied the pending change');
  assert.match(applied, /^entrypoint: \/bin\/sh \/app\.sh next$/m);
  const stop = pct('pve1', ['stop', id]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(pct('pve1', ['status', id]).stdout, 'status: stopped\n');
  const d = pct('pve1', ['destroy', id, '--purge']);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(pct('pve1', ['status', id]).code, 255);
});

test("a CT that prints and exits with 3 leaves 'VMID exited with status [3]' on lxc-monitor", async () => {
  const id = vmid();
  const lxcPath = s().info.nodes['pve1']?.lxcPath ?? '';
  assert.equal((await s().task('pve1', 'POST', '/nodes/pve1/lxc', { vmid: String(id), ostemplate: 'local:vztmpl/busybox.tar', rootfs: 'local:0', entrypoint: '/bin/sh /exit3.sh' })).exitstatus, 'WARNINGS: 3');
  let out = '';
  const monitor = spawn('lxc-monitor', ['-n', `^${id}$`, '-P', lxcPath], { stdio: ['ignore', 'pipe', 'ignore'] });
  monitors.push(monitor);
  monitor.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  await waitFor('lxc-monitord to accept lxc-monitor', 60_000, () => monitor.pid !== undefined && monitordAccepted(monitor.pid));
  assert.equal((await s().task('pve1', 'POST', `/nodes/pve1/lxc/${id}/status/start`)).exitstatus, 'OK');
  await waitFor('the exit status on lxc-monitor', 60_000, () => out.includes(`'${id}' exited with status [3]`));
  monitor.kill('SIGTERM');
  assert.equal((await s().task('pve1', 'DELETE', `/nodes/pve1/lxc/${id}`, { force: '1', purge: '1' })).exitstatus, 'OK');
});

test("networking: net0 on vmbr0 lives in the simulator's own namespace, never on the host", async () => {
  const id = vmid();
  const ns = netnsName(s().root);
  assert.ok(await netnsExists(ns));
  assert.ok((await netnsLinks(ns)).includes('vmbr0'));
  assert.equal((await s().task('pve1', 'POST', '/nodes/pve1/lxc', { vmid: String(id), ostemplate: 'local:vztmpl/busybox.tar', rootfs: 'local:0', entrypoint: '/bin/sh /app.sh', net0: 'name=eth0,bridge=vmbr0,hwaddr=BC:24:11:AA:00:01' })).exitstatus, 'WARNINGS: 3');
  const started = await s().task('pve1', 'POST', `/nodes/pve1/lxc/${id}/status/start`);
  assert.equal(started.exitstatus, 'OK');
  assert.ok((await s().taskLog('pve1', started.upid)).some((l) => l.includes(`attached inside network namespace '${ns}'`)));
  const veth = `veth${id}i0`;
  assert.equal(spawnSync('ip', ['link', 'show', veth]).status, 1, 'the veth is not on the host');
  const inNs = spawnSync('ip', ['-n', ns, '-o', 'link', 'show', veth], { encoding: 'utf8' });
  assert.equal(inNs.status, 0, inNs.stderr);
  assert.match(inNs.stdout, /master vmbr0/);
  const inCt = pct('pve1', ['exec', String(id), '--', 'cat', '/sys/class/net/eth0/address']);
  assert.equal(inCt.stdout, 'bc:24:11:aa:00:01\n');
  // left running on purpose: scripts/pve-sim stop must take it down with its veth
});

test("multi-node: a CT created on pve2 through pve1's API runs in pve2's lxcPath; /cluster/resources lists both nodes' guests", async () => {
  const id = vmid();
  assert.equal((await s().task('pve2', 'POST', '/nodes/pve2/lxc', { vmid: String(id), ostemplate: 'local:vztmpl/busybox.tar', rootfs: 'local:0', entrypoint: '/bin/sh /app.sh' })).exitstatus, 'WARNINGS: 3');
  const cli = s().tool('pve1', 'pvesh', ['create', `/nodes/pve2/lxc/${id}/status/start`]);
  assert.equal(cli.code, 0, cli.stderr);
  const info = spawnSync('lxc-info', ['-P', s().info.nodes['pve2']?.lxcPath ?? '', '-n', String(id), '-s', '-H'], { encoding: 'utf8' });
  assert.equal(info.stdout.trim(), 'RUNNING');
  const on1 = spawnSync('lxc-info', ['-P', s().info.nodes['pve1']?.lxcPath ?? '', '-n', String(id), '-s', '-H'], { encoding: 'utf8' });
  assert.notEqual(on1.stdout.trim(), 'RUNNING');
  const res = (await s().request('GET', '/cluster/resources', { type: 'vm' })).json.data as Array<{ vmid: number; node: string; status: string }>;
  assert.deepEqual(res.filter((r) => r.vmid === id).map((r) => [r.node, r.status]), [['pve2', 'running']]);
  assert.ok(res.some((r) => r.node === 'pve1' && r.vmid === id - 1), "pve1's running CT is listed too");
});

test('10 parallel nextid+create loops never share a VMID', async () => {
  const loop = async (): Promise<number> => {
    for (let attempt = 0; attempt < 30; attempt += 1) {
      const next = Number((await s().request('GET', '/cluster/nextid')).json.data);
      const r = await s().request('POST', '/nodes/pve1/lxc', { vmid: String(next), ostemplate: 'local:vztmpl/busybox.tar', rootfs: 'local:0', entrypoint: '/bin/sh /app.sh' });
      if (r.status === 200) {
        assert.equal((await s().waitTask('pve1', r.json.data as string)).exitstatus, 'WARNINGS: 3');
        return next;
      }
      assert.match(r.json.message ?? '', /already exists/);
    }
    throw new Error('no VMID after 30 attempts');
  };
  const ids = await Promise.all(Array.from({ length: 10 }, loop));
  assert.equal(new Set(ids).size, 10, `duplicates in ${ids.join(',')}`);
  for (const id of ids) assert.equal((await s().task('pve1', 'DELETE', `/nodes/pve1/lxc/${id}`, { purge: '1' })).exitstatus, 'OK');
});

test('every request of this file passed the parameter rules: the official schema beside ../shared, the own rules elsewhere', () => {
  const official = fs.existsSync(OFFICIAL_SCHEMA);
  assert.match(s().startLog, official ? /checking every request against the official API schema/ : /not found: the simulator's own parameter rules apply/);
  assert.deepEqual([...rulesUsed(s().root)], [official ? 'official' : 'own']);
  assertAllRequestsPassedSchema(s().root);
});

test('scripts/pve-sim stop leaves no process, mount, loop device, veth or namespace', async () => {
  const root = s().root;
  const ns = netnsName(root);
    const images = fs.readdirSync(path.join(root, 'nodes/pve1/var-lib-vz/images'), { recursive: true }).map(String).filter((f) => f.endsWith('.raw'));
  const running = (await s().request('GET', '/cluster/resources', { type: 'vm' })).json.data as Array<{ status: string }>;
  assert.ok(running.filter((r) => r.status === 'running').length >= 2, 'containers are still running when stop is called');
  s().stopKeepRoot();
  assert.deepEqual(await processesMentioning(root), [], 'no process mentions the simulator root');
  assert.deepEqual(await mountsUnder(root), [], 'no mount under the simulator root');
  for (const img of images) assert.deepEqual(await loopDevicesFor(path.join(root, 'nodes/pve1/var-lib-vz/images', img)), []);
  assert.equal(await netnsExists(ns), false, 'the namespace is gone');
  const hostLinks = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  assert.ok(!new RegExp(`veth(${base}|7\\d{5})i\\d`).test(hostLinks), 'no veth of ours on the host');
});
