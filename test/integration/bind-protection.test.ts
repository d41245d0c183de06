/**
 * File binds an unprivileged CT's root cannot reach (podman's runroot files, its secrets) are
 * placed in the monitor folder's `binds/`: checked here with real files and real users. Host user
 * `nobody` must not read any of them (the 0700 folder they came from kept it out), and host uid
 * 100000 (the CT's root under Proxmox's default map) must read what the container's root reads
 * under runc. The proxmox-vm backend copies such a file into the guest's disk image instead: the
 * copy keeps the source's owner and mode (the guest has no id map). Needs root, setpriv and
 * unshare (util-linux), mke2fs and debugfs (e2fsprogs).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROXMOX_DEFAULT_ID_MAP, reachableBindEntries } from '../../src/monitor/index.js';
import { copyFilesIntoImage } from '../../src/backends/proxmox-vm/rootfs/image-files.js';
import { requireCommands, requireRoot } from '../helpers/host-setup.js';

/** Runs `cat FILE` as host uid/gid `ids` with no supplementary groups; true when it printed the content. */
function readsAs(ids: { uid: number; gid: number }, file: string, expected: string): boolean {
  const r = spawnSync('setpriv', [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', 'cat', file], { encoding: 'utf8' });
  return r.status === 0 && r.stdout === expected;
}

let mountCount = 0;

/**
 * Reads `file` as `ids` the way a CT process does: through a bind mount of it (made by root in a
 * private mount namespace), so only the file's own owner and mode decide, not the folders above it.
 */
function readsThroughBind(ids: { uid: number; gid: number }, file: string, expected: string): boolean {
  mountCount += 1;
  const target = path.join(base, `mountpoint-${mountCount}`);
  fs.writeFileSync(target, '');
  const script = 'mount --bind "$1" "$2" && exec setpriv --reuid="$3" --regid="$4" --clear-groups cat "$2"';
  const r = spawnSync('unshare', ['-m', 'sh', '-c', script, 'sh', file, target, String(ids.uid), String(ids.gid)], { encoding: 'utf8' });
  return r.status === 0 && r.stdout === expected;
}

const NOBODY = { uid: 65534, gid: 65534 };
const CT_ROOT = { uid: PROXMOX_DEFAULT_ID_MAP.hostUidBase, gid: PROXMOX_DEFAULT_ID_MAP.hostGidBase };

let base: string;
let runroot: string;
let monitorDir: string;

before(async () => {
  requireRoot('bind-protection test');
  await requireCommands(['setpriv', 'unshare']);
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-binds-'));
  fs.chmodSync(base, 0o755);
  // podman's layout: files under a runroot folder only host root may enter.
  runroot = path.join(base, 'runroot');
  fs.mkdirSync(runroot, { mode: 0o700 });
  fs.writeFileSync(path.join(runroot, 'hosts'), '127.0.0.1 localhost\n', { mode: 0o644 });
  fs.writeFileSync(path.join(runroot, 'secret-444'), 'DB_PASSWORD=s3cret444\n', { mode: 0o444 });
  fs.writeFileSync(path.join(runroot, 'secret-400'), 'DB_PASSWORD=s3cret400\n', { mode: 0o400 });
  fs.writeFileSync(path.join(runroot, 'app-owned'), 'owned by 1000\n', { mode: 0o600 });
  fs.chownSync(path.join(runroot, 'app-owned'), 1000, 1000);
  for (const name of ['hosts', 'secret-444', 'secret-400']) fs.chmodSync(path.join(runroot, name), fs.statSync(path.join(runroot, name)).mode & 0o777);
  monitorDir = path.join(base, 'monitor');
  fs.mkdirSync(monitorDir, { mode: 0o755 });
});

after(() => {
  if (base !== undefined) fs.rmSync(base, { recursive: true, force: true });
});

function entry(name: string, destination: string): [string, string] {
  return ['lxc.mount.entry', `${path.join(runroot, name)} ${destination} none bind,create=file 0 0`];
}

test('files from a 0700 folder stay out of reach of other host users and readable by the CT root as under runc', async () => {
  const entries = [entry('hosts', 'etc/hosts'), entry('secret-444', 'run/secrets/a'), entry('secret-400', 'run/secrets/b'), entry('app-owned', 'srv/app')];
  const placed = await reachableBindEntries(monitorDir, entries, PROXMOX_DEFAULT_ID_MAP);
  const sources = placed.map(([, value]) => value.split(' ')[0] ?? '');
  for (const source of sources) assert.ok(source.startsWith(path.join(monitorDir, 'binds') + path.sep), `${source} was not placed in binds/`);

  const [hosts, secret444, secret400, appOwned] = sources as [string, string, string, string];
  // Nobody else reads any of them, as before (the runroot was 0700).
  assert.equal(readsAs(NOBODY, path.join(runroot, 'secret-444'), 'DB_PASSWORD=s3cret444\n'), false, 'the source itself is out of reach');
  for (const [file, content] of [[hosts, '127.0.0.1 localhost\n'], [secret444, 'DB_PASSWORD=s3cret444\n'], [secret400, 'DB_PASSWORD=s3cret400\n'], [appOwned, 'owned by 1000\n']] as const) {
    assert.equal(readsAs(NOBODY, file, content), false, `nobody must not read ${file}`);
  }
  // The CT's root reads what the container's root reads under runc.
  assert.equal(readsAs(CT_ROOT, hosts, '127.0.0.1 localhost\n'), true, 'CT root reads /etc/hosts');
  assert.equal(readsAs(CT_ROOT, secret444, 'DB_PASSWORD=s3cret444\n'), true, 'CT root reads the 0444 secret');
  assert.equal(readsAs(CT_ROOT, secret400, 'DB_PASSWORD=s3cret400\n'), true, 'CT root reads the 0400 secret it owns under runc');
  // Inside the CT the file is reached through the bind mount: the app's user (uid 1000 in the CT,
  // host 101000) reads its own 0600 file, another user of the CT does not, as under runc.
  assert.equal(readsThroughBind({ uid: CT_ROOT.uid + 1000, gid: CT_ROOT.gid + 1000 }, appOwned, 'owned by 1000\n'), true, 'uid 1000 of the CT reads its 0600 file');
  assert.equal(readsThroughBind({ uid: CT_ROOT.uid + 1001, gid: CT_ROOT.gid + 1001 }, appOwned, 'owned by 1000\n'), false, 'another CT user does not');
  assert.equal(readsThroughBind({ uid: CT_ROOT.uid + 1001, gid: CT_ROOT.gid + 1001 }, secret444, 'DB_PASSWORD=s3cret444\n'), true, 'every CT user reads the 0444 secret');
  assert.equal(readsThroughBind({ uid: CT_ROOT.uid + 1001, gid: CT_ROOT.gid + 1001 }, secret400, 'DB_PASSWORD=s3cret400\n'), false, 'only the CT root reads the 0400 one');

  const binds = fs.statSync(path.join(monitorDir, 'binds'));
  assert.equal(binds.mode & 0o777, 0o750, 'binds/ must be 0750');
  assert.deepEqual([binds.uid, binds.gid], [0, CT_ROOT.gid], 'binds/ belongs to root and the CT root\'s group');
  // World-readable files stay hard links (podman's in-place rewrites still show); the others are copies
  // with the source's mode and the owner the CT sees under runc.
  assert.equal(fs.statSync(hosts).ino, fs.statSync(path.join(runroot, 'hosts')).ino, '/etc/hosts stays a hard link');
  assert.equal(fs.statSync(secret444).ino, fs.statSync(path.join(runroot, 'secret-444')).ino, 'a 0444 file stays a hard link');
  const copy = fs.statSync(secret400);
  assert.deepEqual([copy.mode & 0o7777, copy.uid, copy.gid], [0o400, CT_ROOT.uid, CT_ROOT.gid]);
  const owned = fs.statSync(appOwned);
  assert.deepEqual([owned.mode & 0o7777, owned.uid, owned.gid], [0o600, CT_ROOT.uid + 1000, CT_ROOT.gid + 1000]);
  // The sources are untouched.
  const source = fs.statSync(path.join(runroot, 'secret-400'));
  assert.deepEqual([source.mode & 0o7777, source.uid, source.gid], [0o400, 0, 0]);
});

test('a privileged CT (no id map) binds the sources as they are', async () => {
  const entries = [entry('secret-400', 'run/secrets/b')];
  assert.deepEqual(await reachableBindEntries(path.join(base, 'privileged'), entries, undefined), entries);
  assert.equal(fs.existsSync(path.join(base, 'privileged')), false);
});

test('proxmox-vm: a bound file reaches the guest image with its own owner and mode, through a snapshot folder only root enters', async () => {
  await requireCommands(['mke2fs', 'debugfs']);
  const work = path.join(base, 'vm');
  fs.mkdirSync(work, { mode: 0o700 });
  const image = path.join(work, 'rootfs.ext4');
  const tree = path.join(base, 'vm-tree');
  fs.mkdirSync(path.join(tree, 'run'), { recursive: true });
  spawnSync('mke2fs', ['-q', '-t', 'ext4', '-d', tree, image, '8M'], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/sbin:/usr/sbin` } });
  const snapshots = path.join(work, 'bind-files');
  await copyFilesIntoImage(image, [{ source: path.join(runroot, 'secret-400'), destination: '/run/secrets/b' }, { source: path.join(runroot, 'app-owned'), destination: '/srv/app' }], snapshots);
  const statOf = (inImage: string): string => spawnSync('debugfs', ['-R', `stat ${inImage}`, image], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/sbin:/usr/sbin` } }).stdout;
  // The guest has no user namespace: the payload sees the host ids and mode, as under runc.
  assert.match(statOf('/run/secrets/b'), /Mode:\s+0400[\s\S]*User:\s+0\s+Group:\s+0\b/);
  assert.match(statOf('/srv/app'), /Mode:\s+0600[\s\S]*User:\s+1000\s+Group:\s+1000\b/);
  for (const name of fs.readdirSync(snapshots)) assert.equal(readsAs(NOBODY, path.join(snapshots, name), 'DB_PASSWORD=s3cret400\n'), false, `nobody must not read ${name}`);
  assert.equal(fs.statSync(snapshots).mode & 0o777, 0o700, 'the snapshot folder is 0700');
});
