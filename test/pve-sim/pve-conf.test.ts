import { test } from 'node:test';
import assert from 'node:assert/strict';
import { confDigest, foldRuntimeEnv, parseGuestConf, unfoldRuntimeEnv, writeGuestConf } from './pve-conf.js';

const SAMPLE = `#my container
#second line
arch: amd64
hostname: web
memory: 512
rootfs: local:100/vm-100-disk-0.raw,size=8G
lxc.environment.runtime: A=1
lxc.environment.runtime: B=two words
lxc.init.cwd = /srv

[pve:pending]
memory: 1024
delete: swap

[snap1]
#snapshot note
hostname: old
`;

test('a CT config round-trips: description, sorted keys, raw lxc keys, pending and snapshot sections', () => {
  const { config, warnings } = parseGuestConf(SAMPLE, 'lxc');
  assert.deepEqual(warnings, []);
  assert.equal(config.description, 'my container\nsecond line');
  assert.equal(config.props['memory'], '512');
  assert.deepEqual(config.lxc, [['lxc.environment.runtime', 'A=1'], ['lxc.environment.runtime', 'B=two words'], ['lxc.init.cwd', '/srv']]);
  assert.deepEqual(config.pending?.props, { memory: '1024', delete: 'swap' });
  assert.equal(config.snapshots?.['snap1']?.props['hostname'], 'old');
  assert.equal(config.snapshots?.['snap1']?.description, 'snapshot note');
  const written = writeGuestConf(config);
  assert.match(written, /^#my container\n#second line\narch: amd64\n/);
  assert.match(written, /lxc\.init\.cwd: \/srv\n\n\[pve:pending\]\ndelete: swap\nmemory: 1024\n/);
  assert.deepEqual(parseGuestConf(written, 'lxc').config, config);
});

test('env folds the lxc.environment.runtime lines with NUL and unfolds back', () => {
  const { config } = parseGuestConf(SAMPLE, 'lxc');
  assert.equal(foldRuntimeEnv(config.lxc), 'A=1\0B=two words');
  const lxc = unfoldRuntimeEnv(config.lxc, 'X=9');
  assert.deepEqual(lxc, [['lxc.environment.runtime', 'X=9'], ['lxc.init.cwd', '/srv']]);
});

test('lxc.rootfs.path and keys outside the allow-list are refused; lxc.cgroup2.* is allowed', () => {
  assert.throws(() => parseGuestConf('lxc.rootfs.path: /x\n', 'lxc'), /lxc.rootfs.path is auto generated from rootfs/);
  assert.throws(() => parseGuestConf('lxc.console.buffer.size: 1\n', 'lxc'), /not supported/);
  assert.deepEqual(parseGuestConf('lxc.cgroup2.memory.max: 1\n', 'lxc').config.lxc, [['lxc.cgroup2.memory.max', '1']]);
});

test('of the lxc.sysctl.* keys only the IPC-namespaced ones are allowed, each by its exact name', () => {
  for (const key of ['lxc.sysctl.kernel.shmmax', 'lxc.sysctl.kernel.msgmnb', 'lxc.sysctl.kernel.sem', 'lxc.sysctl.fs.mqueue']) {
    assert.deepEqual(parseGuestConf(`${key}: 1\n`, 'lxc').config.lxc, [[key, '1']]);
  }
  for (const key of ['lxc.sysctl.net.ipv4.ip_forward', 'lxc.sysctl.kernel.hostname', 'lxc.sysctl.vm.swappiness', 'lxc.sysctl.fs.mqueue.msg_max', 'lxc.sysctl.kernel.shmmax.x']) {
    assert.throws(() => parseGuestConf(`${key}: 1\n`, 'lxc'), new RegExp(`${key.replace(/\./g, '\\.')} is not supported`));
  }
});

test('the digest is the SHA-1 of the raw file and values with newlines are refused', () => {
  assert.match(confDigest('a: b\n'), /^[0-9a-f]{40}$/);
  assert.notEqual(confDigest('a: b\n'), confDigest('a: c\n'));
  assert.throws(() => writeGuestConf({ props: { hostname: 'a\nb' }, lxc: [] }), /newline/);
});
