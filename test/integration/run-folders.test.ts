/**
 * Folders and locks only root controls. A `--root` that already exists (a shared 1777 folder) keeps
 * its mode; `delete --force` of an id whose folder is not proxrun's leaves it; a record in a folder
 * another user owns is refused. The VMID lock, the VM run folders and the exec stand-ins' FIFOs live
 * outside every state root, in /run/proxrun-private, where user `nobody` cannot make the lock first.
 * Runs the built proxrun with the runc backend (no container is started); needs root and setpriv.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_ROOT } from '../../src/cli/parse.js';
import { EXEC_RUN_DIR } from '../../src/backends/proxmox-lxc/exec/exec.js';
import { VM_RUN_BASE } from '../../src/backends/proxmox-vm/settings.js';
import { assertTrustedDir, ensureTrustedDir, PRIVATE_RUN_DIR } from '../../src/proxmox/private-dir.js';
import { DEFAULT_VMID_LOCK_FILE } from '../../src/proxmox/vmid.js';
import { describeResult } from '../helpers/exec.js';
import { requireCommands, requireRoot } from '../helpers/host-setup.js';
import { proxrun, requireBuilt, tempDir } from '../helpers/proxrun.js';

let work: string;

before(async () => {
  requireRoot('run-folders test');
  requireBuilt();
  await requireCommands(['setpriv']);
  work = tempDir('proxrun-run-folders-');
});

after(() => {
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true });
});

const asNobody = (args: readonly string[]): number | null => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...args]).status;

test('a --root that exists keeps its mode; only the folders proxrun makes are 0700', async () => {
  const shared = path.join(work, 'shared');
  fs.mkdirSync(shared);
  fs.chmodSync(shared, 0o1777);
  const r = await proxrun(shared, ['delete', '--force', 'nothing-here']);
  assert.equal(r.exitCode, 0, describeResult(r));
  assert.equal(fs.statSync(shared).mode & 0o7777, 0o1777, 'the shared folder was chmodded');
  assert.equal(fs.statSync(path.join(shared, '@locks')).mode & 0o7777, 0o700);

  const fresh = path.join(work, 'fresh', 'root');
  const made = await proxrun(fresh, ['delete', '--force', 'nothing-here']);
  assert.equal(made.exitCode, 0, describeResult(made));
  assert.equal(fs.statSync(fresh).mode & 0o7777, 0o700, 'a root proxrun makes is 0700');
});

test('delete --force leaves a folder of the root that is not a container\'s', async () => {
  const root = path.join(work, 'mixed');
  fs.mkdirSync(path.join(root, 'vm', 'a-vm-folder'), { recursive: true });
  fs.writeFileSync(path.join(root, 'vm', 'a-vm-folder', 'initrd.img'), 'not proxrun state');
  const r = await proxrun(root, ['delete', '--force', 'vm']);
  assert.equal(r.exitCode, 0, describeResult(r));
  assert.equal(fs.existsSync(path.join(root, 'vm', 'a-vm-folder', 'initrd.img')), true, 'delete --force vm removed a folder that holds no container');
  // What a create killed before its first record leaves (an empty folder, a temp record) still goes.
  fs.mkdirSync(path.join(root, 'half'));
  fs.writeFileSync(path.join(root, 'half', '.state.json.0123456789ab'), '{');
  const half = await proxrun(root, ['delete', '--force', 'half']);
  assert.equal(half.exitCode, 0, describeResult(half));
  assert.equal(fs.existsSync(path.join(root, 'half')), false);
});

test('a record in a folder another user owns is refused, not followed', async () => {
  const root = path.join(work, 'foreign');
  fs.mkdirSync(root);
  fs.chmodSync(root, 0o1777);
  const planted = path.join(root, 'victim');
  fs.mkdirSync(planted);
  fs.writeFileSync(path.join(planted, 'state.json'), JSON.stringify({ id: 'victim', backend: 'runc', bundle: '/', rootfs: '/', created: '', owner: '', annotations: {}, backendData: {} }));
  fs.chownSync(planted, 65534, 65534);
  const r = await proxrun(root, ['delete', '--force', 'victim']);
  assert.notEqual(r.exitCode, 0, describeResult(r));
  assert.equal(r.stderr.trim().split('\n').length, 1, describeResult(r));
  assert.match(r.stderr, new RegExp(`refusing ${planted}: it belongs to uid 65534`));
  assert.equal(fs.existsSync(path.join(planted, 'state.json')), true);
});

test('the VMID lock, VM run folders and exec FIFOs are outside the default root, where nobody cannot make them', () => {
  for (const place of [DEFAULT_VMID_LOCK_FILE, VM_RUN_BASE, EXEC_RUN_DIR]) {
    assert.ok(!`${place}/`.startsWith(`${DEFAULT_ROOT}/`), `${place} is inside the default state root ${DEFAULT_ROOT}`);
    assert.ok(place === PRIVATE_RUN_DIR || place.startsWith(`${PRIVATE_RUN_DIR}/`), `${place} is outside ${PRIVATE_RUN_DIR}`);
  }
  ensureTrustedDir(path.dirname(DEFAULT_VMID_LOCK_FILE));
  assert.equal(fs.statSync(PRIVATE_RUN_DIR).mode & 0o077, 0, `${PRIVATE_RUN_DIR} must be root's alone`);
  assert.notEqual(asNobody(['mkdir', DEFAULT_VMID_LOCK_FILE]), 0, 'nobody could make the VMID lock');
  assert.equal(fs.existsSync(DEFAULT_VMID_LOCK_FILE) && fs.statSync(DEFAULT_VMID_LOCK_FILE).uid === 65534, false);
});

test('a folder proxrun relies on is checked, never fixed: another owner, a world-writable folder, one above it', () => {
  const owned = path.join(work, 'owned-by-nobody');
  fs.mkdirSync(owned, { mode: 0o700 });
  fs.chownSync(owned, 65534, 65534);
  assert.throws(() => ensureTrustedDir(owned), { message: `refusing ${owned}: ${owned} belongs to uid 65534, not to uid 0` });
  const open = path.join(work, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  assert.throws(() => assertTrustedDir(open), { message: `refusing ${open}: ${open} is writable by group or others (mode 0777)` });
  assert.equal(fs.statSync(open).mode & 0o777, 0o777, 'the mode was changed');
  const below = path.join(open, 'lock');
  assert.throws(() => ensureTrustedDir(below), { message: `refusing ${below}: ${open} is writable by group or others (mode 0777)` });
  // A sticky folder above (such as /tmp) is fine: no one can rename another's entry there.
  fs.chmodSync(open, 0o1777);
  ensureTrustedDir(below);
  assert.equal(fs.statSync(below).mode & 0o777, 0o700);
});
