import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  addRawLxcEntries,
  editGuestConf,
  formatPveConf,
  guestConfPath,
  mainSettings,
  parsePveConf,
  rawLxcEntries,
  removeRawLxcEntries,
} from '../../src/proxmox/conf-file.js';

const SAMPLE = `#my container
#second line
arch: amd64
hostname: web
memory: 512
rootfs: local:100/vm-100-disk-0.raw,size=8G
lxc.environment.runtime: A=1
lxc.init.cwd = /srv

[pve:pending]
memory: 1024
delete: swap

[snap1]
#snapshot note
hostname: old
lxc.init.cwd: /old
`;

test('parse and format round-trip a config with description, raw keys, pending and snapshot sections', () => {
  const conf = parsePveConf(SAMPLE);
  assert.equal(formatPveConf(conf), SAMPLE);
  assert.deepEqual(conf.sections.map((s) => s.name), ['pve:pending', 'snap1']);
  assert.deepEqual(rawLxcEntries(conf), [
    { key: 'lxc.environment.runtime', value: 'A=1' },
    { key: 'lxc.init.cwd', value: '/srv' },
  ]);
  assert.deepEqual(mainSettings(conf).map((e) => e.key), ['arch', 'hostname', 'memory', 'rootfs']);
});

test('raw entries are added to the main section only, before the blank line that ends it', () => {
  const conf = addRawLxcEntries(parsePveConf(SAMPLE), [
    { key: 'lxc.init.cmd', value: '/proxrun/init' },
    { key: 'lxc.mount.entry', value: '/a b none bind,create=dir 0 0' },
  ]);
  const text = formatPveConf(conf);
  const [main, rest] = text.split('[pve:pending]');
  assert.match(main ?? '', /lxc\.init\.cwd = \/srv\nlxc\.init\.cmd: \/proxrun\/init\nlxc\.mount\.entry: \/a b none bind,create=dir 0 0\n\n$/);
  assert.doesNotMatch(rest ?? '', /lxc\.init\.cmd|lxc\.mount\.entry/);
  // the snapshot section is untouched
  assert.deepEqual(conf.sections[1]?.lines, ['#snapshot note', 'hostname: old', 'lxc.init.cwd: /old']);
});

test('adding to a config without sections appends at the end', () => {
  const conf = addRawLxcEntries(parsePveConf('arch: amd64\nhostname: a\n'), [{ key: 'lxc.signal.halt', value: 'SIGTERM' }]);
  assert.equal(formatPveConf(conf), 'arch: amd64\nhostname: a\nlxc.signal.halt: SIGTERM\n');
});

test('removing raw keys touches the main section only', () => {
  const conf = removeRawLxcEntries(parsePveConf(SAMPLE), ['lxc.init.cwd']);
  assert.deepEqual(rawLxcEntries(conf), [{ key: 'lxc.environment.runtime', value: 'A=1' }]);
  assert.ok(conf.sections[1]?.lines.includes('lxc.init.cwd: /old'));
});

test('bad raw entries are refused naming the key', () => {
  const conf = parsePveConf('arch: amd64\n');
  assert.throws(() => addRawLxcEntries(conf, [{ key: 'memory', value: '1' }]), /raw lxc key "memory" must start with "lxc\."/);
  assert.throws(() => addRawLxcEntries(conf, [{ key: 'lxc.rootfs.path', value: '/x' }]), /lxc\.rootfs\.path cannot be set/);
  assert.throws(() => addRawLxcEntries(conf, [{ key: 'lxc.init.cmd', value: 'a\nmemory: 9' }]), /lxc\.init\.cmd: the value must not contain a line break/);
});

test('editGuestConf rewrites atomically in the same folder and leaves no temp file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-conf-'));
  try {
    const file = guestConfPath(dir, 'pve1', 'lxc', 100001);
    assert.equal(file, path.join(dir, 'nodes/pve1/lxc/100001.conf'));
    assert.equal(guestConfPath(dir, 'pve1', 'qemu', 7), path.join(dir, 'nodes/pve1/qemu-server/7.conf'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, SAMPLE);
    const inodeBefore = fs.statSync(file).ino;
    await editGuestConf(file, (c) => addRawLxcEntries(c, [{ key: 'lxc.init.uid', value: '1000' }]));
    assert.notEqual(fs.statSync(file).ino, inodeBefore, 'the file was replaced by rename, not rewritten in place');
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['100001.conf']);
    assert.ok(rawLxcEntries(parsePveConf(fs.readFileSync(file, 'utf8'))).some((e) => e.key === 'lxc.init.uid' && e.value === '1000'));
    await assert.rejects(editGuestConf(path.join(dir, 'missing.conf'), (c) => c), /cannot read .*missing\.conf: ENOENT/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
