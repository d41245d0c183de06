/**
 * The guest parts that need no VM: QEMU argument quoting (checked against
 * Perl's Text::ParseWords, which qemu-server's split_args uses), the cpio
 * writer (checked with GNU cpio), module resolution on the installed kernel,
 * the initramfs cache, the ext4 image, the spec fragment and the protocol.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildDiskImage, diskGeometry } from '../../src/backends/proxmox-vm/rootfs/disk-image.js';
import {
  checkGuestSpec, ensureBaseInitramfs, formatArgsLine, guestQemuArgs, kernelCommandLine,
  locateGuestKernel, parseGuestLine, renderGuestSpec, resolveGuestModules, splitArgsLine, writeCpioNewc, writeVmInitrd,
  REQUIRED_GUEST_MODULES, type GuestKernel, type GuestSpec,
} from '../../src/backends/proxmox-vm/guest/index.js';
import { parseModulesDep } from '../../src/backends/proxmox-vm/guest/kernel-modules.js';
import { makeBusyboxRootfs } from '../helpers/busybox-rootfs.js';
import { runCommand } from '../helpers/exec.js';

let workDir = '';
let kernel: GuestKernel;

before(async () => {
  for (const [file, pkg] of [['/usr/bin/perl', 'perl-base'], ['/usr/bin/cpio', 'cpio'], ['/sbin/mke2fs', 'e2fsprogs'], ['/bin/busybox', 'busybox-static']] as const) {
    await access(file).catch(() => { throw new Error(`${file} not found: install Debian package ${pkg}`); });
  }
  kernel = await locateGuestKernel();
  workDir = await mkdtemp(path.join(os.tmpdir(), 'proxrun-vm-parts-'));
});

after(async () => {
  if (workDir !== '') await rm(workDir, { recursive: true, force: true });
});

const spec: GuestSpec = { args: ['sh', '-c', 'echo hi'], env: ['PATH=/bin'], cwd: '/', uid: 0, gid: 0, readonlyRoot: true, hostname: 'h1' };

async function perlShellwords(line: string): Promise<string[]> {
  const result = await runCommand(['perl', '-MText::ParseWords', '-e', 'print join("\\0", shellwords($ARGV[0]))', '--', line]);
  assert.equal(result.exitCode, 0, result.stderr);
  return result.stdout.split('\0');
}

describe('QEMU args for the VM config', () => {
  test('words with spaces, quotes, $ and commas survive qemu-server\'s split_args', async () => {
    const words = ['-append', 'quiet a=\'b\' "c" $HOME x\\y', '-initrd', '/run/dir with space/initrd,1.img', 'plain'];
    const line = formatArgsLine(words);
    assert.deepEqual(await perlShellwords(line), words);
    assert.deepEqual(splitArgsLine(line), words);
  });

  test('the generated args carry direct kernel boot, -no-reboot and three named ports on non-blocking sockets', async () => {
    const words = guestQemuArgs({ kernelPath: '/boot/vmlinuz-x', initrdPath: '/r/initrd.img', runDir: '/run/proxrun/101' });
    assert.deepEqual(await perlShellwords(formatArgsLine(words)), words);
    assert.equal(words[words.indexOf('-kernel') + 1], '/boot/vmlinuz-x');
    assert.ok(words.includes('-no-reboot'));
    for (const role of ['stdout', 'stderr', 'control']) {
      assert.ok(words.includes(`socket,id=proxrun-${role},path=/run/proxrun/101/${role}.sock,server=on,wait=off`), role);
      assert.ok(words.includes(`virtserialport,bus=proxrun-serial.0,chardev=proxrun-${role},name=proxrun.${role}`), role);
    }
  });

  test('a kernel command line over 2047 bytes is refused', () => {
    assert.throws(() => kernelCommandLine(['x'.repeat(2048)]), /2047 bytes/);
    assert.ok(kernelCommandLine(['console=ttyS0']).endsWith('console=ttyS0'));
  });
});

describe('initramfs', () => {
  test('the cpio writer produces what GNU cpio lists and extracts', async () => {
    const archive = writeCpioNewc([
      { kind: 'dir', path: 'bin', mode: 0o755 },
      { kind: 'file', path: 'bin/hello', mode: 0o755, data: Buffer.from('hello\n') },
      { kind: 'symlink', path: 'bin/hi', target: 'hello' },
      { kind: 'char', path: 'console', mode: 0o600, major: 5, minor: 1 },
    ]);
    const file = path.join(workDir, 'test.cpio');
    await writeFile(file, archive);
    const listing = await runCommand(['sh', '-c', `cpio -itv --quiet < '${file}'`]);
    assert.equal(listing.exitCode, 0, listing.stderr);
    const lines = listing.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^drwxr-xr-x .* bin$/);
    assert.match(lines[1] ?? '', /^-rwxr-xr-x .* 6 .* bin\/hello$/);
    assert.match(lines[2] ?? '', /^lrwxrwxrwx .* bin\/hi -> hello$/);
    assert.match(lines[3] ?? '', /^crw------- .* 5, +1 .* console$/);
    assert.throws(() => writeCpioNewc([{ kind: 'dir', path: '/abs', mode: 0o755 }]), /relative/);
  });

  test('modules come from modules.dep with every dependency loaded first', async () => {
    const dep = await readFile(path.join(kernel.modulesDir, 'modules.dep'), 'utf8');
    const builtin = await readFile(path.join(kernel.modulesDir, 'modules.builtin'), 'utf8').catch(() => '');
    const modules = resolveGuestModules(dep, builtin);
    const names = modules.map((m) => m.name);
    const depMap = parseModulesDep(dep);
    for (const name of REQUIRED_GUEST_MODULES) {
      assert.ok(names.includes(name) || builtin.includes(`/${name}.ko`), `${name} loaded or built in`);
    }
    modules.forEach((module, index) => {
      for (const needed of depMap.get(module.name)?.deps ?? []) {
        const at = modules.findIndex((m) => m.relativePath === needed);
        assert.ok(at >= 0 && at < index, `${needed} before ${module.name}`);
      }
    });
    assert.equal(new Set(names).size, names.length, 'each module once');
    assert.throws(() => resolveGuestModules('kernel/a.ko:\n', ''), /virtio_ring is neither in modules.dep nor built in/);
    assert.deepEqual(resolveGuestModules('kernel/a/b-c.ko: kernel/d.ko\nkernel/d.ko:\n', '', ['b_c'], []).map((m) => m.name), ['d', 'b_c']);
    assert.deepEqual(resolveGuestModules('', 'kernel/virtio.ko\n', ['virtio'], []), []);
  });

  test('built once per kernel and version, with the spec appended per VM', async () => {
    const cacheDir = path.join(workDir, 'cache');
    const started = performance.now();
    const first = await ensureBaseInitramfs({ kernel, cacheDir, proxrunVersion: '1' });
    const buildMs = performance.now() - started;
    const again = await ensureBaseInitramfs({ kernel, cacheDir, proxrunVersion: '1' });
    const other = await ensureBaseInitramfs({ kernel, cacheDir, proxrunVersion: '2' });
    assert.equal(first.built, true);
    assert.equal(again.built, false);
    assert.equal(again.path, first.path);
    assert.notEqual(other.path, first.path);
    const listing = await runCommand(['sh', '-c', `zcat '${first.path}' | cpio -it --quiet`]);
    assert.equal(listing.exitCode, 0, listing.stderr);
    for (const entry of ['init', 'bin/busybox', 'bin/sh', 'dev/console', 'proxrun/modules', ...first.modules.map((m) => `lib/modules/proxrun/${m}.ko`)]) {
      assert.ok(listing.stdout.split('\n').includes(entry), entry);
    }
    const initrd = path.join(workDir, 'vm-initrd.img');
    await writeVmInitrd(first.path, spec, initrd);
    const whole = await readFile(initrd);
    const base = await readFile(first.path);
    assert.deepEqual(whole.subarray(0, base.length), base);
    const appended = whole.subarray(base.length).toString('latin1');
    assert.ok(appended.includes('proxrun/spec.sh') && appended.includes("'echo hi'"));
    assert.ok(gunzipSync(base).length > base.length);
    console.log(`# initramfs: ${Math.round(buildMs)} ms to build, ${Math.round(base.length / 1024)} KiB gzip'd, per-VM initrd ${Math.round(whole.length / 1024)} KiB, modules ${first.modules.join(' ')}`);
  });
});

describe('rootfs disk image', () => {
  test('a busybox tree becomes a clean ext4 image with ownership kept', async () => {
    const rootfs = path.join(workDir, 'rootfs');
    await makeBusyboxRootfs(rootfs);
    const image = path.join(workDir, 'root.img');
    const started = performance.now();
    const built = await buildDiskImage(rootfs, image);
    const ms = performance.now() - started;
    assert.equal((await stat(image)).size, built.sizeBytes);
    const fsck = await runCommand(['/sbin/e2fsck', '-fn', image]);
    assert.equal(fsck.exitCode, 0, fsck.stdout + fsck.stderr);
    const home = await runCommand(['/sbin/debugfs', '-R', 'stat /home/app', image]);
    assert.match(home.stdout, /User:\s+1000\s+Group:\s+1000/);
    assert.deepEqual(diskGeometry({ bytes: 100 * 1024 * 1024, entries: 10 }, 0), { sizeMiB: 126, inodes: 4096 });
    console.log(`# disk image: ${Math.round(ms)} ms for the busybox rootfs, ${built.sizeBytes / 1024 / 1024} MiB`);
    await assert.rejects(buildDiskImage(path.join(workDir, 'missing'), path.join(workDir, 'x.img')), /ENOENT|no such/i);
  });
});

describe('spec fragment and protocol', () => {
  test('the spec fragment sets the gate variables as busybox sh reads them', async () => {
    const file = path.join(workDir, 'spec.sh');
    await writeFile(file, renderGuestSpec({ ...spec, hostname: 'h-1', rootDevice: '/dev/vdb' }));
    const result = await runCommand(['busybox', 'sh', '-c', `. '${file}'; printf '%s|' "$root_device" "$root_readonly" "$payload_hostname" "$payload_cwd"`]);
    assert.equal(result.stdout, '/dev/vdb|1|h-1|/|');
  });

  test('specs the guest cannot run are refused naming the field', () => {
    assert.throws(() => checkGuestSpec({ ...spec, args: [] }), /process\.args/);
    assert.throws(() => checkGuestSpec({ ...spec, args: ['A=b'] }), /process\.args\[0\]/);
    assert.throws(() => checkGuestSpec({ ...spec, env: ['NOEQUALS'] }), /process\.env/);
    assert.throws(() => checkGuestSpec({ ...spec, cwd: 'rel' }), /process\.cwd/);
    assert.throws(() => checkGuestSpec({ ...spec, uid: -1 }), /process\.user\.uid/);
    assert.throws(() => checkGuestSpec({ ...spec, hostname: 'bad host' }), /hostname/);
  });

  test('guest control lines parse, unknown ones are ignored', () => {
    assert.deepEqual(parseGuestLine('ready'), { kind: 'ready' });
    assert.deepEqual(parseGuestLine('exit 137 5 0\r'), { kind: 'exit', status: 137, stdoutBytes: 5, stderrBytes: 0 });
    assert.deepEqual(parseGuestLine('error cannot mount /dev/vda'), { kind: 'error', message: 'cannot mount /dev/vda' });
    assert.equal(parseGuestLine('exit 300 0 0'), undefined);
    assert.equal(parseGuestLine('hello'), undefined);
  });
});
