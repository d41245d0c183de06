import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chown, lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBusyboxRootfs } from '../helpers/busybox-rootfs.js';
import { ensureSubids, requireCommands, requireRoot } from '../helpers/host-setup.js';
import { addOpaqueMarker, addWhiteout, packOciArchive, packPlainTemplate } from '../helpers/oci-archive.js';
import {
  archiveIsOciFormat,
  detectOstype,
  extractOciArchive,
  extractPlainTemplate,
  extractTemplate,
  mapOciImageConfig,
  resolveImageUser,
  resolveInRoot,
  shellQuote,
} from './template.js';

describe('shellQuote (cmd2string)', () => {
  it('leaves plain words alone and quotes the rest like String::ShellQuote', () => {
    assert.equal(shellQuote(['/bin/sh', '-c', 'echo hi']), "/bin/sh -c 'echo hi'");
    assert.equal(shellQuote(['a=b', 'x@y:z/w.v-u_t']), 'a=b x@y:z/w.v-u_t');
    assert.equal(shellQuote(['']), "''");
    assert.equal(shellQuote(["it's"]), "'it'\\''s'");
    assert.equal(shellQuote(["'"]), "\\'");
    assert.equal(shellQuote(["''"]), `"''"`);
    assert.equal(shellQuote(['$HOME', 'a b']), "'$HOME' 'a b'");
    assert.equal(shellQuote([]), '');
  });
});

describe('templates (root)', () => {
  let root = '';
  let rootfs = '';
  let n = 0;

  /** A fresh target rootdir, owned by the CT's root as the volume would be. */
  async function target(unprivileged: boolean): Promise<string> {
    n += 1;
    const dir = join(root, `target${n}`);
    await mkdir(dir);
    if (unprivileged) await chown(dir, 100000, 100000);
    return dir;
  }

  before(async () => {
    requireRoot('template.test.ts');
    await requireCommands(['tar', 'gzip', 'zstd', 'lxc-usernsexec', 'newuidmap', 'newgidmap']);
    await ensureSubids();
    root = await mkdtemp(join(tmpdir(), 'pve-tmpl-'));
    rootfs = join(root, 'rootfs');
    await makeBusyboxRootfs(rootfs);
    await writeFile(join(rootfs, 'dev/should-not-appear'), 'x');
  });

  after(async () => {
    if (root !== '') await rm(root, { recursive: true, force: true });
  });

  it('detects OCI archives exactly as Proxmox does', async () => {
    const oci = join(root, 'image.tar');
    await packOciArchive(oci, { layers: [{ dir: rootfs }] });
    assert.equal(await archiveIsOciFormat(oci), true);
    const dotSlash = join(root, 'dotslash.tar');
    await packOciArchive(dotSlash, { layers: [{ dir: rootfs }] }, { dotSlashEntries: true });
    assert.equal(await archiveIsOciFormat(dotSlash), false, './oci-layout is not detected');
    const plain = join(root, 'plain.tar');
    await packPlainTemplate(rootfs, plain);
    assert.equal(await archiveIsOciFormat(plain), false);
    const renamed = join(root, 'image.tar.gz');
    await writeFile(renamed, await readFile(oci));
    assert.equal(await archiveIsOciFormat(renamed), false, 'name must end in .tar');
  });

  for (const ext of ['.tar', '.tar.gz', '.tar.zst']) {
    for (const unprivileged of [false, true]) {
      it(`extracts a plain ${ext} template (${unprivileged ? 'unprivileged' : 'privileged'}) without ./dev/*`, async () => {
        const archive = join(root, `plain-${unprivileged}${ext}`);
        await packPlainTemplate(rootfs, archive);
        const dir = await target(unprivileged);
        const result = await extractTemplate(archive, dir, { unprivileged });
        assert.equal(result.kind, 'plain');
        assert.equal(result.oci, undefined);
        const shift = unprivileged ? 100000 : 0;
        assert.equal((await lstat(join(dir, 'bin/busybox'))).uid, shift);
        assert.equal((await stat(join(dir, 'home/app'))).uid, 1000 + shift);
        assert.equal((await stat(join(dir, 'home/app'))).gid, 1000 + shift);
        assert.equal((await lstat(join(dir, 'bin/sh'))).isSymbolicLink(), true);
        assert.equal((await stat(join(dir, 'tmp'))).mode & 0o7777, 0o1777);
        assert.deepEqual(await readdir(join(dir, 'dev')), [], './dev/* is excluded');
      });
    }
  }

  it('names an unsupported template file', async () => {
    await assert.rejects(extractPlainTemplate(join(root, 'x.zip'), await target(false), { unprivileged: false }), /unsupported template file name/);
  });

  it('applies OCI layers in order with whiteouts and opaque directories, shifted for unprivileged', async () => {
    const lower = join(root, 'layer0');
    await makeBusyboxRootfs(lower);
    await mkdir(join(lower, 'data/sub'), { recursive: true });
    await writeFile(join(lower, 'data/keep'), 'keep');
    await writeFile(join(lower, 'data/gone'), 'gone');
    await writeFile(join(lower, 'data/sub/deep'), 'deep');
    await mkdir(join(lower, 'opq'));
    await writeFile(join(lower, 'opq/old'), 'old');
    await writeFile(join(lower, 'data/replaced'), 'v1');
    const upper = join(root, 'layer1');
    await mkdir(upper);
    await addWhiteout(upper, 'data/gone');
    await addWhiteout(upper, 'data/sub');
    await addOpaqueMarker(upper, 'opq');
    await writeFile(join(upper, 'opq/new'), 'new');
    await writeFile(join(upper, 'data/replaced'), 'v2');
    const top = join(root, 'layer2');
    await mkdir(join(top, 'data'), { recursive: true });
    await writeFile(join(top, 'data/gone'), 'back again');
    const archive = join(root, 'layers.tar');
    await packOciArchive(archive, {
      layers: [
        { dir: lower, compression: 'gzip' },
        { dir: upper, compression: 'zstd' },
        { dir: top, compression: 'none' },
      ],
      config: { Cmd: ['/bin/sh'] },
    });
    const dir = await target(true);
    await extractOciArchive(archive, dir, { unprivileged: true });
    assert.equal(await readFile(join(dir, 'data/keep'), 'utf8'), 'keep');
    assert.equal(await readFile(join(dir, 'data/replaced'), 'utf8'), 'v2');
    assert.equal(await readFile(join(dir, 'data/gone'), 'utf8'), 'back again');
    await assert.rejects(lstat(join(dir, 'data/sub')), { code: 'ENOENT' });
    assert.deepEqual((await readdir(join(dir, 'opq'))).sort(), ['new']);
    const names = await readdir(join(dir, 'data'));
    assert.ok(!names.some((name) => name.startsWith('.wh.')), 'no whiteout files extracted');
    assert.equal((await stat(join(dir, 'data/keep'))).uid, 100000);
    assert.equal((await stat(join(dir, 'home/app'))).uid, 101000);
  });

  it('picks the amd64 manifest, or the first one when none is amd64', async () => {
    const arm = join(root, 'arm');
    const amd = join(root, 'amd');
    await mkdir(arm);
    await mkdir(amd);
    await writeFile(join(arm, 'which'), 'arm64');
    await writeFile(join(amd, 'which'), 'amd64');
    const multi = join(root, 'multi.tar');
    await packOciArchive(multi, [
      { layers: [{ dir: arm }], architecture: 'arm64' },
      { layers: [{ dir: amd }], architecture: 'amd64' },
    ]);
    const dir1 = await target(false);
    await extractOciArchive(multi, dir1, { unprivileged: false });
    assert.equal(await readFile(join(dir1, 'which'), 'utf8'), 'amd64');
    const armOnly = join(root, 'armonly.tar');
    await packOciArchive(armOnly, [
      { layers: [{ dir: arm }], architecture: 'arm64' },
      { layers: [{ dir: amd }], architecture: 'riscv64' },
    ]);
    const dir2 = await target(false);
    await extractOciArchive(armOnly, dir2, { unprivileged: false });
    assert.equal(await readFile(join(dir2, 'which'), 'utf8'), 'arm64');
  });

  it('refuses an image whose config is not an OCI image config', async () => {
    const archive = join(root, 'badconfig.tar');
    await packOciArchive(archive, { layers: [{ dir: rootfs }], configMediaType: 'application/vnd.docker.container.image.v1+json' });
    await assert.rejects(extractOciArchive(archive, await target(false), { unprivileged: false }), /unsupported image config media type/);
  });

  it('maps an OCI image config to entrypoint, env and raw lxc keys', async () => {
    const archive = join(root, 'mapped.tar');
    await packOciArchive(archive, {
      layers: [{ dir: rootfs }],
      config: {
        Entrypoint: ['/bin/sh', '-c'],
        Cmd: ['echo "$GREETING" from $(pwd)'],
        Env: ['PATH=/bin', 'GREETING=hello world'],
        User: 'app',
        WorkingDir: '/home/app',
        StopSignal: 'SIGUSR1',
        Volumes: { '/data/vol': {} },
      },
    });
    const dir = await target(true);
    const result = await extractTemplate(archive, dir, { unprivileged: true });
    assert.equal(result.kind, 'oci');
    assert.deepEqual(result.oci, {
      entrypoint: `/bin/sh -c 'echo "$GREETING" from $(pwd)'`,
      env: 'PATH=/bin\0GREETING=hello world',
      customEntrypoint: true,
      lxc: [
        ['lxc.init.uid', '1000'],
        ['lxc.init.gid', '1000'],
        ['lxc.init.cwd', '/home/app'],
        ['lxc.signal.halt', 'SIGUSR1'],
      ],
    });
    const vol = await stat(join(dir, 'data/vol'));
    assert.ok(vol.isDirectory());
    assert.equal(vol.uid, 100000);
  });

  it('keeps /sbin/init images system containers and defaults the halt signal to SIGTERM', async () => {
    const mapping = await mapOciImageConfig({ Entrypoint: ['/sbin/init'], Cmd: ['--log-level=info'] }, rootfs, { unprivileged: false });
    assert.deepEqual(mapping, { customEntrypoint: false, lxc: [['lxc.signal.halt', 'SIGTERM']] });
    const empty = await mapOciImageConfig({}, rootfs, { unprivileged: false });
    assert.equal(empty.entrypoint, undefined);
    assert.equal(empty.env, undefined);
  });

  it('refuses control characters and unknown users', async () => {
    await assert.rejects(mapOciImageConfig({ Env: ['A=1\nB=2'] }, rootfs, { unprivileged: false }), /OCI config value for 'Env' contains forbidden control characters!/);
    await assert.rejects(mapOciImageConfig({ User: 'ghost' }, rootfs, { unprivileged: false }), /unable to find user 'ghost'/);
    const tab = await mapOciImageConfig({ Cmd: ['echo', 'a\tb'] }, rootfs, { unprivileged: false });
    assert.equal(tab.entrypoint, "echo 'a\tb'");
  });

  it('resolves User forms: name, uid, uid:gid, name:group, with supplementary groups', async () => {
    const dir = join(root, 'users');
    await makeBusyboxRootfs(dir);
    await writeFile(join(dir, 'etc/group'), 'root:x:0:\napp:x:1000:\nwheel:x:10:app,root\naudio:x:29:app\n');
    assert.deepEqual(await resolveImageUser(dir, 'app'), { uid: 1000, gid: 1000, groups: [10, 29] });
    assert.deepEqual(await resolveImageUser(dir, '1000'), { uid: 1000, gid: 1000, groups: [10, 29] });
    assert.deepEqual(await resolveImageUser(dir, '4242'), { uid: 4242, gid: 0, groups: [] });
    assert.deepEqual(await resolveImageUser(dir, '4242:77'), { uid: 4242, gid: 77, groups: [] });
    assert.deepEqual(await resolveImageUser(dir, 'app:wheel'), { uid: 1000, gid: 10, groups: [29] });
    await assert.rejects(resolveImageUser(dir, 'app:nogroup-here'), /unable to find group 'nogroup-here'/);
  });

  it('follows symlinks inside the rootfs without leaving it', async () => {
    const dir = join(root, 'links');
    await mkdir(join(dir, 'usr/lib'), { recursive: true });
    await mkdir(join(dir, 'etc'));
    await writeFile(join(dir, 'usr/lib/os-release'), 'ID=debian\n');
    await symlink('../usr/lib/os-release', join(dir, 'etc/os-release'));
    await symlink('/etc/shadow', join(dir, 'etc/escape'));
    assert.equal(await resolveInRoot(dir, '/etc/os-release'), join(dir, 'usr/lib/os-release'));
    assert.equal(await resolveInRoot(dir, '/etc/escape'), join(dir, 'etc/shadow'));
    assert.equal(await resolveInRoot(dir, '/../../etc/passwd'), join(dir, 'etc/passwd'));
    assert.deepEqual(await detectOstype(dir, 950001), { ostype: 'debian', warnings: [] });
  });

  it('detects ostype: unmanaged without os-release, dies on an unknown distribution', async () => {
    const none = await detectOstype(rootfs, 950002);
    assert.equal(none.ostype, 'unmanaged');
    assert.ok(none.warnings.includes('Falling back to amd64.'));
    assert.ok(none.warnings.includes('Use `pct set 950002 --arch ARCH` to change.'));
    const dir = join(root, 'osrel');
    await mkdir(join(dir, 'etc'), { recursive: true });
    await writeFile(join(dir, 'etc/os-release'), 'NAME="Alpine Linux"\nID="alpine"\n');
    assert.equal((await detectOstype(dir, 950003)).ostype, 'alpine');
    await writeFile(join(dir, 'etc/os-release'), 'NAME=Plan9\nID=plan9\n');
    await assert.rejects(detectOstype(dir, 950004), /^Error: unable to detect OS distribution$/);
  });
});
