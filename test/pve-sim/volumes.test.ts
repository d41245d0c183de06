import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireCommands, requireRoot } from '../helpers/host-setup.js';
import type { SimDirStorage } from './types.js';
import {
  allocRootdirVolume,
  freeVolume,
  initDirStorage,
  isMountPoint,
  listContent,
  loopDevicesFor,
  mountVolume,
  parseVolname,
  parseVolumeId,
  resolveVolumeId,
  templateFormat,
  unmountTree,
} from './volumes.js';

describe('volume names', () => {
  it('splits volume ids and rejects malformed ones', () => {
    assert.deepEqual(parseVolumeId('local:100/vm-100-disk-0.raw'), { storage: 'local', volname: '100/vm-100-disk-0.raw' });
    assert.throws(() => parseVolumeId('nocolon'), /unable to parse volume ID 'nocolon'/);
    assert.throws(() => parseVolumeId(':x'), /unable to parse volume ID/);
  });

  it('maps volume names to the dir plugin layout', () => {
    assert.equal(parseVolname('100/vm-100-disk-0.raw').relPath, 'images/100/vm-100-disk-0.raw');
    assert.equal(parseVolname('100/subvol-100-disk-2.subvol').content, 'rootdir');
    assert.equal(parseVolname('vztmpl/busybox.tar').relPath, 'template/cache/busybox.tar');
    assert.equal(parseVolname('iso/x.iso').relPath, 'template/iso/x.iso');
    assert.equal(parseVolname('import/disk.qcow2').format, 'qcow2');
    assert.equal(parseVolname('snippets/a.yaml').relPath, 'snippets/a.yaml');
    assert.throws(() => parseVolname('100/vm-101-disk-0.raw'), /unable to parse directory volume name/);
    assert.throws(() => parseVolname('vztmpl/x.zip'), /unable to parse directory volume name/);
    assert.throws(() => parseVolname('vztmpl/../../etc/passwd.tar'), /unable to parse directory volume name/);
  });

  it('reports template formats as Proxmox does', () => {
    assert.equal(templateFormat('a.tar'), 'tar');
    assert.equal(templateFormat('a.tar.gz'), 'tgz');
    assert.equal(templateFormat('a.tar.zst'), 'tzst');
    assert.equal(templateFormat('a.tar.xz'), 'txz');
    assert.equal(templateFormat('a.tgz'), undefined);
  });

  it('resolves against a storage list and names an unknown storage', () => {
    const storages: SimDirStorage[] = [{ id: 'local', path: '/srv/vz', content: ['vztmpl'] }];
    assert.equal(resolveVolumeId(storages, 'local:vztmpl/a.tar'), '/srv/vz/template/cache/a.tar');
    assert.throws(() => resolveVolumeId(storages, 'nfs:vztmpl/a.tar'), /storage 'nfs' does not exist/);
  });
});

describe('volumes on a directory storage (root)', () => {
  let root = '';
  let storage: SimDirStorage;

  before(async () => {
    requireRoot('volumes.test.ts');
    await requireCommands(['mkfs.ext4', 'losetup', 'mount', 'umount', 'findmnt']);
    root = await mkdtemp(join(tmpdir(), 'pve-vol-'));
    storage = { id: 'local', path: join(root, 'storage'), content: ['vztmpl', 'rootdir', 'images', 'iso', 'snippets', 'import'] };
    await initDirStorage(storage);
  });

  after(async () => {
    if (root !== '') {
      await unmountTree(join(root, 'mnt'));
      await rm(root, { recursive: true, force: true });
    }
  });

  it('allocates a subvol directory shifted for unprivileged CTs, then frees it', async () => {
    const volid = await allocRootdirVolume(storage, 901, { sizeGiB: 0, unprivileged: true });
    assert.equal(volid, 'local:901/subvol-901-disk-0.subvol');
    const path = resolveVolumeId([storage], volid);
    const st = await stat(path);
    assert.ok(st.isDirectory());
    assert.equal(st.uid, 100000);
    assert.equal(st.gid, 100000);
    const second = await allocRootdirVolume(storage, 901, { sizeGiB: 0, unprivileged: false });
    assert.equal(second, 'local:901/subvol-901-disk-1.subvol');
    assert.equal((await stat(resolveVolumeId([storage], second))).uid, 0);
    await freeVolume(storage, '901/subvol-901-disk-0.subvol');
    await freeVolume(storage, '901/subvol-901-disk-1.subvol');
    await assert.rejects(stat(join(storage.path, 'images', '901')), { code: 'ENOENT' });
    await assert.rejects(freeVolume(storage, '901/subvol-901-disk-1.subvol'), /does not exist/);
  });

  it('allocates a raw ext4 volume, loop-mounts it and leaves no loop device after unmount', async () => {
    const volid = await allocRootdirVolume(storage, 902, { sizeGiB: 0.0625, unprivileged: true });
    assert.equal(volid, 'local:902/vm-902-disk-0.raw');
    const path = resolveVolumeId([storage], volid);
    assert.equal((await stat(path)).size, 64 * 1024 * 1024);
    const target = join(root, 'mnt', '902');
    await mountVolume(path, target);
    try {
      assert.equal(await isMountPoint(target), true);
      assert.equal((await loopDevicesFor(path)).length, 1);
      const st = await stat(target);
      assert.equal(st.uid, 100000, 'ext4 root owned by the mapped root');
      await writeFile(join(target, 'hello'), 'world');
    } finally {
      await unmountTree(target);
    }
    assert.equal(await isMountPoint(target), false);
    assert.deepEqual(await loopDevicesFor(path), []);
    const mounts = await readFile('/proc/mounts', 'utf8');
    assert.ok(!mounts.includes(target), 'no mount left in /proc/mounts');
    // Data persisted in the image: mount read-only and read it back.
    await mountVolume(path, target, { ro: true });
    try {
      assert.equal(await readFile(join(target, 'hello'), 'utf8'), 'world');
      await assert.rejects(writeFile(join(target, 'other'), 'x'), { code: 'EROFS' });
    } finally {
      await unmountTree(target);
    }
    assert.deepEqual(await loopDevicesFor(path), []);
  });

  it('lists content with volid, format, size, vmid and content type', async () => {
    await writeFile(join(storage.path, 'template/cache/busybox.tar.zst'), 'x'.repeat(10));
    await writeFile(join(storage.path, 'template/cache/notes.txt'), 'ignored');
    const ct = await allocRootdirVolume(storage, 903, { sizeGiB: 0, unprivileged: false });
    const vm = await allocRootdirVolume(storage, 904, { sizeGiB: 0.0625, unprivileged: false });
    const all = await listContent(storage, { isContainer: (vmid) => vmid === 903 });
    const byId = new Map(all.map((e) => [e.volid, e]));
    assert.deepEqual(
      { ...byId.get('local:vztmpl/busybox.tar.zst'), ctime: 0 },
      { volid: 'local:vztmpl/busybox.tar.zst', format: 'tzst', size: 10, content: 'vztmpl', ctime: 0 },
    );
    assert.equal(byId.has('local:vztmpl/notes.txt'), false);
    assert.equal(byId.get(ct)?.content, 'rootdir');
    assert.equal(byId.get(ct)?.vmid, 903);
    assert.equal(byId.get(vm)?.content, 'images');
    assert.equal(byId.get(vm)?.size, 64 * 1024 * 1024);
    const only903 = await listContent(storage, { vmid: 903 });
    assert.deepEqual(only903.map((e) => e.volid), [ct]);
    const templates = await listContent(storage, { content: 'vztmpl' });
    assert.deepEqual(templates.map((e) => e.volid), ['local:vztmpl/busybox.tar.zst']);
  });

  it('refuses rootdir volumes on a storage without rootdir content', async () => {
    await assert.rejects(
      allocRootdirVolume({ ...storage, content: ['iso'] }, 905, { sizeGiB: 0, unprivileged: true }),
      /storage 'local' does not support container directories/,
    );
    await assert.rejects(allocRootdirVolume(storage, 905, { sizeGiB: -1, unprivileged: true }), /invalid size/);
  });
});
