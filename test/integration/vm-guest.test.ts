/**
 * Boots busybox bundles as VMs under plain QEMU (TCG) with the guest side of
 * the proxmox-vm backend: our initramfs, our ext4 image, the three
 * virtio-console ports, and the host channel. One VM at a time.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { buildDiskImage } from '../../src/backends/proxmox-vm/rootfs/disk-image.js';
import {
  ensureBaseInitramfs, GuestChannel, guestQemuArgs, locateGuestKernel, writeVmInitrd,
  type BaseInitramfs, type GuestExit, type GuestKernel, type GuestSpec,
} from '../../src/backends/proxmox-vm/guest/index.js';
import { makeBusyboxRootfs } from '../helpers/busybox-rootfs.js';
import { runCommand, pollFor } from '../helpers/exec.js';
import { processesMentioning } from '../helpers/cleanup.js';

const QEMU = '/usr/bin/qemu-system-x86_64';
const BOOT_DEADLINE_MS = 60_000;

async function requireFile(file: string, debianPackage: string): Promise<void> {
  await access(file).catch(() => {
    throw new Error(`${file} not found: install Debian package ${debianPackage}`);
  });
}

/** A stream that keeps what it is given, and says when a text has arrived. */
class Collector extends PassThrough {
  text = '';
  firstByteAt: number | undefined;
  constructor() {
    super();
    this.on('data', (chunk: Buffer) => {
      this.firstByteAt ??= performance.now();
      this.text += chunk.toString('utf8');
    });
  }
  waitFor(needle: string, timeoutMs = 30_000): Promise<true> {
    return pollFor(() => (this.text.includes(needle) ? true : undefined), { timeoutMs, intervalMs: 20, description: `${JSON.stringify(needle)} in the relayed output` });
  }
}

interface BootedVm {
  readonly qemu: ChildProcess;
  readonly qemuExit: Promise<number | null>;
  readonly channel: GuestChannel;
  readonly stdout: Collector;
  readonly stderr: Collector;
  readonly diskPath: string;
  readonly spawnedAt: number;
  readonly readyAt: number;
  readonly dir: string;
}

let workDir = '';
let rootfs = '';
let kernel: GuestKernel;
let initramfs: BaseInitramfs;
const running = new Set<ChildProcess>();

before(async () => {
  await requireFile(QEMU, 'qemu-system-x86');
  await requireFile('/bin/busybox', 'busybox-static');
  await requireFile('/sbin/mke2fs', 'e2fsprogs');
  kernel = await locateGuestKernel(); // fails naming linux-image-cloud-amd64 when missing
  workDir = await mkdtemp(path.join(os.tmpdir(), 'proxrun-vm-guest-'));
  rootfs = path.join(workDir, 'rootfs');
  await makeBusyboxRootfs(rootfs);
  initramfs = await ensureBaseInitramfs({ kernel, cacheDir: path.join(workDir, 'cache'), proxrunVersion: 'test' });
});

after(async () => {
  for (const qemu of running) qemu.kill('SIGKILL');
  if (workDir !== '') await rm(workDir, { recursive: true, force: true });
});

function specFor(args: string[], extra: Partial<GuestSpec> = {}): GuestSpec {
  return { args, env: ['PATH=/bin:/usr/bin', 'HOME=/root'], cwd: '/', uid: 0, gid: 0, readonlyRoot: false, ...extra };
}

/** Boots a VM for `spec` and returns once the guest waits at the start gate. */
async function bootVm(t: TestContext, name: string, spec: GuestSpec): Promise<BootedVm> {
  const dir = path.join(workDir, name);
  const diskPath = path.join(dir, 'disk.img');
  const initrdPath = path.join(dir, 'initrd.img');
  await mkdir(dir);
  await buildDiskImage(rootfs, diskPath, { freeMiB: 16 });
  await writeVmInitrd(initramfs.path, spec, initrdPath);
  const args = [
    '-accel', 'tcg', '-m', '256', '-smp', '1', '-nodefaults', '-no-user-config', '-display', 'none',
    '-monitor', 'none', '-serial', `file:${path.join(dir, 'serial.log')}`,
    '-drive', `file=${diskPath},format=raw,if=virtio`,
    ...guestQemuArgs({ kernelPath: kernel.kernelPath, initrdPath, runDir: dir, extraKernelArgs: ['console=ttyS0'] }),
  ];
  const spawnedAt = performance.now();
  const qemu = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(qemu);
  let qemuStderr = '';
  qemu.stderr?.setEncoding('utf8').on('data', (text: string) => { qemuStderr += text; });
  const qemuExit = new Promise<number | null>((resolve) => qemu.on('exit', (code) => { running.delete(qemu); resolve(code); }));
  t.after(async () => {
    if (running.has(qemu)) { qemu.kill('SIGKILL'); await qemuExit; }
    await rm(dir, { recursive: true, force: true });
  });
  const stdout = new Collector();
  const stderr = new Collector();
  const channel = await GuestChannel.connect({ runDir: dir, stdout, stderr, connectTimeoutMs: 10_000 });
  t.after(() => channel.close());
  const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`guest not ready in time; QEMU said: ${qemuStderr}`)), BOOT_DEADLINE_MS).unref());
  const gone = qemuExit.then((code) => { throw new Error(`QEMU exited (${String(code)}) before the guest was ready: ${qemuStderr}`); });
  try {
    await Promise.race([channel.waitReady(), deadline, gone]);
  } catch (error) {
    const log = await readFile(path.join(dir, 'serial.log'), 'utf8').catch(() => '');
    throw new Error(`${(error as Error).message}\nserial log:\n${log}`);
  }
  return { qemu, qemuExit, channel, stdout, stderr, diskPath, spawnedAt, readyAt: performance.now(), dir };
}

async function finished(vm: BootedVm): Promise<GuestExit> {
  const exit = await Promise.race([
    vm.channel.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('payload did not finish in time')), BOOT_DEADLINE_MS).unref()),
  ]);
  const qemuCode = await Promise.race([
    vm.qemuExit,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('QEMU did not exit after the guest powered off')), 60_000).unref()),
  ]);
  assert.equal(qemuCode, 0, 'QEMU exits by itself once the guest powers off');
  return exit;
}

/** Whether the ext4 image holds `file` (read with debugfs, nothing mounted). */
async function imageHasFile(image: string, file: string): Promise<boolean> {
  const result = await runCommand(['/sbin/debugfs', '-R', `stat ${file}`, image]);
  assert.equal(result.exitCode, 0, result.stderr);
  return !result.stderr.includes('File not found');
}

function rssKiB(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((status) => Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN));
}

describe('proxmox-vm guest under QEMU (TCG)', { concurrency: 1 }, () => {
  test('stdout and stderr come back separately, with the exit status, and all of a large output', async (t) => {
    const vm = await bootVm(t, 'streams', specFor(['sh', '-c', 'echo ran > /ran-marker; echo out; echo err >&2; seq 1 30000; exit 3']));
    const rss = await rssKiB(vm.qemu.pid ?? -1);
    assert.equal(vm.stdout.text, '', 'nothing on stdout before start');
    const startAt = performance.now();
    vm.channel.start();
    const exit = await finished(vm);
    const expectedSeq = Array.from({ length: 30000 }, (_, i) => `${i + 1}\n`).join('');
    assert.equal(exit.status, 3);
    assert.deepEqual(exit.guestErrors, []);
    assert.equal(vm.stdout.text, `out\n${expectedSeq}`);
    assert.equal(vm.stderr.text, 'err\n');
    assert.equal(await imageHasFile(vm.diskPath, '/ran-marker'), true, 'the payload ran and wrote to the rw root');
    t.diagnostic(`boot to gate ${Math.round(vm.readyAt - vm.spawnedAt)} ms; start to first output ${Math.round((vm.stdout.firstByteAt ?? NaN) - startAt)} ms; QEMU RSS at gate ${Math.round(rss / 1024)} MiB; initramfs built: ${String(initramfs.built)}`);
  });

  test('a fast payload loses no output', async (t) => {
    const vm = await bootVm(t, 'fast', specFor(['echo', 'x']));
    vm.channel.start();
    const exit = await finished(vm);
    assert.equal(exit.status, 0);
    assert.equal(vm.stdout.text, 'x\n');
    assert.equal(vm.stderr.text, '');
  });

  test('env, cwd, uid/gid, hostname and a read-only root are honoured', async (t) => {
    const script = 'echo "$FOO|$(pwd)|$(id -u):$(id -g)|$(hostname)|$HOME"; env | sort; if touch /probe 2>/dev/null; then echo rw; else echo ro; fi';
    const vm = await bootVm(t, 'process', specFor(['sh', '-c', script], {
      env: ['PATH=/bin', 'FOO=a b \'$c\' "d"', 'HOME=/home/app'],
      cwd: '/home/app', uid: 1000, gid: 1000, hostname: 'vm-guest-1', readonlyRoot: true,
    }));
    vm.channel.start();
    const exit = await finished(vm);
    assert.equal(exit.status, 0, vm.stderr.text);
    const lines = vm.stdout.text.split('\n');
    assert.equal(lines[0], 'FOO=a b \'$c\' "d"|/home/app|1000:1000|vm-guest-1|/home/app'.slice('FOO='.length));
    assert.deepEqual(lines.slice(1, 5), ['FOO=a b \'$c\' "d"', 'HOME=/home/app', 'PATH=/bin', 'PWD=/home/app'].sort());
    assert.equal(lines.at(-2), 'ro');
  });

  test('SIGTERM is forwarded to the payload and a trap catches it', async (t) => {
    const vm = await bootVm(t, 'sigterm', specFor(['sh', '-c', 'trap "echo caught; exit 42" TERM; echo armed; while :; do sleep 0.1; done']));
    vm.channel.start();
    await vm.stdout.waitFor('armed\n');
    vm.channel.signal(15);
    const exit = await finished(vm);
    assert.equal(exit.status, 42);
    assert.equal(vm.stdout.text, 'armed\ncaught\n');
  });

  test('SIGKILL ends the payload with 137 and what it started goes too', async (t) => {
    const vm = await bootVm(t, 'sigkill', specFor(['sh', '-c', 'sleep 1000 & echo armed; wait']));
    vm.channel.start();
    await vm.stdout.waitFor('armed\n');
    vm.channel.signal(9);
    const exit = await finished(vm);
    assert.equal(exit.status, 137);
  });

  test('nothing runs before start: a signal at the gate ends the guest with 128+N', async (t) => {
    const vm = await bootVm(t, 'gate', specFor(['sh', '-c', 'echo ran > /ran-marker; echo ran']));
    vm.channel.signal(15);
    const exit = await finished(vm);
    assert.equal(exit.status, 143);
    assert.equal(vm.stdout.text, '');
    assert.equal(await imageHasFile(vm.diskPath, '/ran-marker'), false, 'the payload never ran');
  });

  test('a program that does not exist is reported on stderr with 127', async (t) => {
    const vm = await bootVm(t, 'missing', specFor(['/no/such/program']));
    vm.channel.start();
    const exit = await finished(vm);
    assert.equal(exit.status, 127);
    assert.match(vm.stderr.text, /no\/such\/program/);
  });

  test('no QEMU process and no VM directory is left behind', async () => {
    assert.deepEqual(await processesMentioning(workDir), []);
    const left = await runCommand(['find', workDir, '-maxdepth', '1', '-mindepth', '1', '-not', '-name', 'rootfs', '-not', '-name', 'cache']);
    assert.equal(left.stdout, '');
  });
});
