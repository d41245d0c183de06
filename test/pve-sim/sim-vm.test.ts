/**
 * The simulator runs VMs with real QEMU: a Debian kernel and a busybox initramfs built here boot
 * through `args: -kernel ... -initrd ...`; the guest's /init prints on `serial0: socket`, which the
 * test reads from the node's qemu-server run folder. Over the API (root@pam ticket and API token)
 * and over `qm`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { RunningSim, assertAllRequestsPassedSchema, type HttpReply } from './sim-harness.js';

let sim: RunningSim | undefined;
let work = '';
let kernel = '';
const seenPids = new Set<number>();

const s = (): RunningSim => {
  if (!sim) throw new Error('simulator not started');
  return sim;
};

/** A gzip'd newc initramfs holding busybox-static and `/init` with the given script body. */
function buildInitramfs(name: string, script: string): string {
  const dir = path.join(work, `${name}.d`);
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'dev'));
  fs.copyFileSync('/bin/busybox', path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  fs.writeFileSync(path.join(dir, 'init'), `#!/bin/busybox sh\nexport PATH=/bin\n${script}\n`, { mode: 0o755 });
  const out = path.join(work, `${name}.cpio.gz`);
  execFileSync('sh', ['-c', `cd "${dir}" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 > "${out}"`]);
  return out;
}

function bootArgs(initrd: string): string {
  return `-kernel ${kernel} -initrd ${initrd} -append 'console=ttyS0 quiet'`;
}

/** Reads the serial socket until `marker` matches (connects at once; the guest prints in a loop). */
function readSerialUntil(socketPath: string, marker: RegExp, timeoutMs = 90_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const sock = net.createConnection(socketPath);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no ${String(marker)} on ${socketPath} within ${timeoutMs} ms; got: ${JSON.stringify(text.slice(-300))}`));
    }, timeoutMs);
    sock.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (marker.test(text)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(text);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Writes `text` to the serial socket (a new connection: readSerialUntil closed its own). */
function writeSerial(socketPath: string, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath, () => sock.end(text, () => resolve()));
    sock.on('error', reject);
  });
}

async function rootTicket(): Promise<Record<string, string>> {
  const r = await s().request('POST', '/access/ticket', { username: 'root@pam', password: s().info.password }, {});
  assert.equal(r.status, 200);
  const { ticket, CSRFPreventionToken } = r.json.data as { ticket: string; CSRFPreventionToken: string };
  return { Cookie: `PVEAuthCookie=${encodeURIComponent(ticket)}`, CSRFPreventionToken };
}

async function okTask(r: HttpReply, what: string): Promise<string> {
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.json.message ?? ''} ${JSON.stringify(r.json.errors ?? {})}`);
  const upid = r.json.data as string;
  assert.equal((await s().waitTask('pve1', upid)).exitstatus, 'OK', `${what}: ${(await s().taskLog('pve1', upid)).join('\n')}`);
  return upid;
}

async function statusCurrent(vmid: number): Promise<{ status: string; qmpstatus: string; pid?: number }> {
  const r = await s().request('GET', `/nodes/pve1/qemu/${vmid}/status/current`);
  assert.equal(r.status, 200);
  return r.json.data as { status: string; qmpstatus: string; pid?: number };
}

async function waitStopped(vmid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await statusCurrent(vmid)).status !== 'stopped') {
    if (Date.now() > deadline) throw new Error(`VM ${vmid} still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function cmdline(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0$/, '').split('\0');
}

/** Whether the process exists and has not ended (a zombie waiting for its reaper counts as ended). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

const runDir = (): string => path.join(s().root, 'nodes/pve1/run-qemu-server');
const confFile = (vmid: number): string => path.join(s().info.pveDir, `nodes/pve1/qemu-server/${vmid}.conf`);
const diskDir = (vmid: number): string => path.join(s().root, `nodes/pve1/var-lib-vz/images/${vmid}`);

let helloInitrd = '';
let foreverInitrd = '';

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pve-sim-vm-'));
  const kernels = fs.existsSync('/boot') ? fs.readdirSync('/boot').filter((f) => /^vmlinuz-.*cloud-amd64$/.test(f)).sort() : [];
  assert.ok(kernels.length > 0, 'no /boot/vmlinuz-*-cloud-amd64: apt-get install linux-image-cloud-amd64');
  kernel = `/boot/${kernels[kernels.length - 1] ?? ''}`;
  // wait=off drops what the guest writes before the test connects: print the marker over and over,
  // until the test says `bye` on the serial line (the console is the guest's stdin), then power off.
  // The test checks the running VM first; a guest that powered off after a fixed time could be gone
  // before a busy host got there.
  helloInitrd = buildInitramfs('hello', 'i=0\nwhile :; do i=$((i+1)); echo "GUEST-HELLO $i"; if read -t 0.25 -r line && [ "$line" = bye ]; then break; fi; done\necho GUEST-BYE\nbusybox poweroff -f');
  foreverInitrd = buildInitramfs('forever', 'while true; do echo GUEST-WAITING; busybox sleep 0.5; done');
  sim = await RunningSim.start({ authDelayMs: 100 });
});

after(() => {
  try {
    sim?.stop();
  } finally {
    for (const pid of seenPids) {
      if (alive(pid)) {
        process.kill(pid, 'SIGKILL');
        assert.fail(`QEMU ${pid} outlived the simulator`);
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('API: root@pam boots a VM from args and an imported disk, reads its serial line, and the VM stops when the guest powers off', async () => {
  const root = await rootTicket();
  const image = path.join(work, 'data.raw');
  const bytes = Buffer.alloc(1024 * 1024, 0);
  bytes.write('PVE-SIM-IMPORT-MARK', 4096);
  fs.writeFileSync(image, bytes);

  const params = { vmid: '700', name: 'hello', memory: '192', serial0: 'socket', vga: 'serial0', args: bootArgs(helloInitrd), scsi0: `local:0,import-from=${image}` };
  const byToken = await s().request('POST', '/nodes/pve1/qemu', params);
  assert.equal(byToken.status, 403, 'an API token must not set args');
  assert.equal(byToken.json.message, "only root can set 'args' config\n");
  const { args: _args, ...noArgs } = params;
  const tokenAbsImport = await s().request('POST', '/nodes/pve1/qemu', noArgs);
  assert.equal(tokenAbsImport.status, 403, 'an API token must not import from an absolute path');
  assert.equal(tokenAbsImport.json.message, 'Only root can pass arbitrary filesystem paths.\n');

  await okTask(await s().request('POST', '/nodes/pve1/qemu', params, root), 'create');
  const conf = fs.readFileSync(confFile(700), 'utf8');
  assert.match(conf, /^scsi0: local:700\/vm-700-disk-0\.raw,size=1M$/m);
  assert.match(conf, /^args: -kernel /m);
  const disk = path.join(diskDir(700), 'vm-700-disk-0.raw');
  assert.deepEqual(fs.readFileSync(disk), bytes, 'the imported volume holds the source bytes');

  const startUpid = await okTask(await s().request('POST', '/nodes/pve1/qemu/700/status/start', {}, root), 'start');
  assert.match(startUpid, /^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmstart:700:root@pam:$/);
  const serial = readSerialUntil(path.join(runDir(), '700.serial0'), /GUEST-HELLO \d+\r?\n/);
  const st = await statusCurrent(700);
  assert.equal(st.status, 'running');
  assert.equal(st.qmpstatus, 'running');
  assert.ok(st.pid !== undefined && alive(st.pid), 'status/current gives the live QEMU pid');
  seenPids.add(st.pid);
  const argv = cmdline(st.pid);
  assert.match(argv[0] ?? '', /qemu-system-x86_64$/);
  assert.equal(argv[argv.indexOf('-pidfile') + 1], path.join(runDir(), '700.pid'));
  assert.ok(argv.includes(disk) || argv.some((a) => a.includes(`file=${disk}`)), 'the imported disk is on the command line');
  assert.deepEqual(argv.slice(-6), ['-kernel', kernel, '-initrd', helloInitrd, '-append', 'console=ttyS0 quiet'], 'args come last, split like a shell');
  const log = (await s().taskLog('pve1', startUpid)).join('\n');
  const accel = argv[argv.indexOf('-accel') + 1];
  assert.match(log, accel === 'tcg' ? /using TCG/ : /using KVM/, 'the start log says which accelerator');

  assert.match(await serial, /GUEST-HELLO \d+\r?\n/);
  assert.equal(alive(st.pid), true, 'the guest runs until it is told to power off');
  await writeSerial(path.join(runDir(), '700.serial0'), 'bye\n');
  await waitStopped(700, 120_000);
  assert.equal(alive(st.pid), false, 'QEMU ended when the guest powered off');
  assert.deepEqual(fs.readdirSync(runDir()).filter((f) => f.startsWith('700.')), [], 'pidfile and sockets are cleaned up');
  const list = await s().request('GET', '/nodes/pve1/qemu');
  assert.equal((list.json.data as Array<{ vmid: number; status: string }>).find((v) => v.vmid === 700)?.status, 'stopped');

  await okTask(await s().request('DELETE', '/nodes/pve1/qemu/700', { purge: '1' }), 'destroy');
  assert.equal(fs.existsSync(confFile(700)), false);
  assert.equal(fs.existsSync(diskDir(700)), false, 'destroy removes the disks');
});

test('API token: a raw image uploaded as import content becomes a disk volume', async () => {
  const image = path.join(work, 'seed.raw');
  const bytes = Buffer.alloc(512 * 1024, 7);
  fs.writeFileSync(image, bytes);
  const up = await s().upload('pve1', 'local', image, 'import');
  assert.equal(up.status, 200, up.json.message);
  await s().waitTask('pve1', up.json.data as string);
  await okTask(await s().request('POST', '/nodes/pve1/qemu', { vmid: '710', virtio0: 'local:0,import-from=local:import/seed.raw' }), 'create');
  assert.match(fs.readFileSync(confFile(710), 'utf8'), /^virtio0: local:710\/vm-710-disk-0\.raw,size=1M$/m);
  assert.deepEqual(fs.readFileSync(path.join(diskDir(710), 'vm-710-disk-0.raw')), bytes);
  await okTask(await s().request('DELETE', '/nodes/pve1/qemu/710'), 'destroy');
  assert.equal(fs.existsSync(diskDir(710)), false);
});

test('qm: start, status, shutdown that times out, forced shutdown, stop, and destroy refused while running', async () => {
  const qm = (...args: string[]): { code: number; stdout: string; stderr: string } => s().tool('pve1', 'qm', args);
  const create = qm('create', '701', '--name', 'forever', '--memory', '160', '--serial0', 'socket', '--vga', 'serial0', '--args', bootArgs(foreverInitrd));
  assert.equal(create.code, 0, create.stderr);
  assert.equal(qm('status', '701').stdout, 'status: stopped\n');

  const start = qm('start', '701');
  assert.equal(start.code, 0, start.stderr);
  assert.match(start.stdout, /using (TCG|KVM)/);
  const serial = readSerialUntil(path.join(runDir(), '701.serial0'), /GUEST-WAITING\r?\n/);
  assert.equal(qm('status', '701').stdout, 'status: running\n');
  const again = qm('start', '701');
  assert.equal(again.code, 255);
  assert.match(again.stderr, /VM 701 already running/);
  const verbose = qm('status', '701', '--verbose').stdout;
  const pid = Number(/^pid: (\d+)$/m.exec(verbose)?.[1]);
  assert.ok(alive(pid), verbose);
  seenPids.add(pid);
  await serial;

  const destroy = qm('destroy', '701');
  assert.equal(destroy.code, 255);
  assert.equal(destroy.stderr, 'VM 701 is running - destroy failed\n');

  const timedOut = qm('shutdown', '701', '--timeout', '2');
  assert.equal(timedOut.code, 255, 'an init that ignores the power button outlasts the timeout');
  assert.match(timedOut.stderr, /VM quit\/powerdown failed - got timeout/);
  assert.equal(qm('status', '701').stdout, 'status: running\n');

  const forced = qm('shutdown', '701', '--timeout', '2', '--forceStop', '1');
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /VM still running - terminating now with SIGTERM/);
  assert.equal(qm('status', '701').stdout, 'status: stopped\n');
  assert.equal(alive(pid), false);

  const restart = qm('start', '701');
  assert.equal(restart.code, 0, restart.stderr);
  const pid2 = Number(/^pid: (\d+)$/m.exec(qm('status', '701', '--verbose').stdout)?.[1]);
  assert.ok(alive(pid2));
  seenPids.add(pid2);
  const stop = qm('stop', '701');
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(qm('status', '701').stdout, 'status: stopped\n');
  assert.equal(alive(pid2), false, 'qm stop ends QEMU');

  const purge = qm('destroy', '701', '--purge');
  assert.equal(purge.code, 0, purge.stderr);
  assert.equal(fs.existsSync(confFile(701)), false);
});

test('scripts/pve-sim stop ends running VMs and leaves no QEMU process or socket; every request passed the schema', async () => {
  const root = await rootTicket();
  await okTask(await s().request('POST', '/nodes/pve1/qemu', { vmid: '702', memory: '128', serial0: 'socket', vga: 'serial0', args: bootArgs(foreverInitrd) }, root), 'create');
  await okTask(await s().request('POST', '/nodes/pve1/qemu/702/status/start', {}, root), 'start');
  const st = await statusCurrent(702);
  assert.ok(st.pid !== undefined && alive(st.pid));
  seenPids.add(st.pid);
  assertAllRequestsPassedSchema(s().root);
  s().stopKeepRoot();
  assert.equal(alive(st.pid), false, 'the VM outlived the simulator');
  assert.deepEqual(fs.readdirSync(runDir()), [], 'run files left behind');
});
