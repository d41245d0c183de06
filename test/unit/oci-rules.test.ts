// The spec's rules beyond the schema: each rule has a passing and a failing config with the exact problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkConfigRules } from '../../src/oci/rules.js';
import { validateConfigSchema } from '../../src/oci/schema-validate.js';
import type { Spec } from '../../src/oci/spec.js';

/** A small Linux config that follows every rule. */
function goodSpec(): Spec {
  return {
    ociVersion: '1.3.0',
    root: { path: 'rootfs' },
    hostname: 'box',
    process: {
      cwd: '/',
      args: ['sh', '-c', 'echo hi'],
      user: { uid: 0, gid: 0 },
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }],
      capabilities: { bounding: ['CAP_KILL'], permitted: ['CAP_KILL'] },
    },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    hooks: { poststop: [{ path: '/bin/true', timeout: 5 }] },
    annotations: { 'io.proxrun.backend': 'runc' },
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'network', path: '/run/netns/x' }],
      maskedPaths: ['/proc/kcore'],
      readonlyPaths: ['/proc/sys'],
      devices: [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229 }],
    },
  };
}

/** Checks a config after asserting the schema accepts it, so every case really reaches the rules. */
function rulesOf(spec: Spec, opts: { bundleDir?: string } = {}): ReturnType<typeof checkConfigRules> {
  assert.deepEqual(validateConfigSchema(spec), [], 'test config must pass the schema');
  return checkConfigRules(spec, opts);
}

test('a config that follows every rule has no problems', () => {
  assert.deepEqual(rulesOf(goodSpec()), []);
});

test('ociVersion must be SemVer 2.0.0', () => {
  for (const good of ['1.0.0', '1.3.0+dev', '0.5.0-dev', '1.0.0-rc.1+build.5', '10.20.30']) {
    assert.deepEqual(rulesOf({ ...goodSpec(), ociVersion: good }), [], good);
  }
  for (const bad of ['banana', '1.0', '01.0.0', '1.0.0-', '1.0.0-01', 'v1.0.0', '']) {
    assert.deepEqual(rulesOf({ ...goodSpec(), ociVersion: bad }), [
      { path: '/ociVersion', message: `must be SemVer 2.0.0 (got ${JSON.stringify(bad)})` },
    ]);
  }
});

test('root is required on Linux, refused for Hyper-V, and its path must not be empty', () => {
  const { root: _omit, ...withoutRoot } = goodSpec();
  assert.deepEqual(rulesOf(withoutRoot), [{ path: '/root', message: 'is required' }]);
  assert.deepEqual(rulesOf({ ...goodSpec(), root: { path: '' } }), [{ path: '/root/path', message: 'must not be empty' }]);
  const hyperV: Spec = {
    ociVersion: '1.0.0',
    process: { cwd: 'C:\\', commandLine: 'cmd' },
    windows: { layerFolders: ['C:\\l'], hyperv: {} },
  };
  assert.deepEqual(rulesOf(hyperV), []);
  assert.deepEqual(rulesOf({ ...hyperV, root: { path: 'x' } }), [
    { path: '/root', message: 'must not be set for a Hyper-V container' },
  ]);
});

test('the root path must be an existing directory, relative paths resolved against the bundle', () => {
  const bundle = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-rules-'));
  try {
    assert.deepEqual(rulesOf(goodSpec(), { bundleDir: bundle }), [
      { path: '/root/path', message: `directory does not exist: ${path.join(bundle, 'rootfs')}` },
    ]);
    fs.writeFileSync(path.join(bundle, 'rootfs'), '');
    assert.deepEqual(rulesOf(goodSpec(), { bundleDir: bundle }), [
      { path: '/root/path', message: `not a directory: ${path.join(bundle, 'rootfs')}` },
    ]);
    fs.rmSync(path.join(bundle, 'rootfs'));
    fs.mkdirSync(path.join(bundle, 'rootfs'));
    assert.deepEqual(rulesOf(goodSpec(), { bundleDir: bundle }), []);
    // An absolute root path is used as it is.
    assert.deepEqual(rulesOf({ ...goodSpec(), root: { path: path.join(bundle, 'rootfs') } }, { bundleDir: '/nonexistent' }), []);
    assert.deepEqual(rulesOf({ ...goodSpec(), root: { path: '/b/rootfs-not-here' } }, { bundleDir: bundle }), [
      { path: '/root/path', message: 'directory does not exist: /b/rootfs-not-here' },
    ]);
  } finally {
    fs.rmSync(bundle, { recursive: true, force: true });
  }
});

test('process.cwd must be absolute and process.args non-empty', () => {
  const spec = goodSpec();
  spec.process = { cwd: 'srv', args: [] };
  assert.deepEqual(rulesOf(spec), [
    { path: '/process/cwd', message: 'must be an absolute path' },
    { path: '/process/args', message: 'must have at least one entry' },
  ]);
  spec.process = { cwd: '/' };
  assert.deepEqual(rulesOf(spec), [{ path: '/process/args', message: 'is required' }]);
  const { process: _omit, ...withoutProcess } = goodSpec();
  assert.deepEqual(rulesOf(withoutProcess), [], 'process itself is optional at create');
});

test('process.user needs uid and gid on POSIX', () => {
  const spec = goodSpec();
  spec.process = { cwd: '/', args: ['sh'], user: { umask: 18 } };
  assert.deepEqual(rulesOf(spec), [
    { path: '/process/user/uid', message: 'is required' },
    { path: '/process/user/gid', message: 'is required' },
  ]);
});

test('a Windows process needs args or commandLine, and POSIX path rules do not apply', () => {
  const win: Spec = { ociVersion: '1.0.0', root: { path: '\\\\?\\Volume{x}\\' }, process: { cwd: 'C:\\' }, windows: { layerFolders: ['C:\\l'] } };
  assert.deepEqual(rulesOf(win), [{ path: '/process/args', message: 'must have at least one entry when commandLine is not set' }]);
  assert.deepEqual(rulesOf({ ...win, process: { cwd: 'C:\\', commandLine: 'cmd' }, mounts: [{ destination: 'C:\\d' }] }), []);
});

test('rlimit types must not repeat', () => {
  const spec = goodSpec();
  spec.process = {
    cwd: '/',
    args: ['sh'],
    rlimits: [
      { type: 'RLIMIT_NOFILE', soft: 1, hard: 1 },
      { type: 'RLIMIT_NPROC', soft: 1, hard: 1 },
      { type: 'RLIMIT_NOFILE', soft: 2, hard: 2 },
    ],
  };
  assert.deepEqual(rulesOf(spec), [
    { path: '/process/rlimits/2/type', message: 'duplicate rlimit type RLIMIT_NOFILE (also at /process/rlimits/0)' },
  ]);
});

test('capabilities must be names of capabilities(7) (the schema\'s rule)', () => {
  const spec = goodSpec();
  spec.process = { cwd: '/', args: ['sh'], capabilities: { effective: ['CAP_NET_RAW', 'chown' as 'CAP_CHOWN', 'CAP_FOO' as 'CAP_CHOWN'] } };
  assert.deepEqual(validateConfigSchema(spec), [
    { path: '/process/capabilities/effective/1', message: 'must be a capability name of capabilities(7), such as "CAP_CHOWN"' },
    { path: '/process/capabilities/effective/2', message: 'must be a capability name of capabilities(7), such as "CAP_CHOWN"' },
  ]);
});

test('annotation keys must not be empty', () => {
  assert.deepEqual(rulesOf({ ...goodSpec(), annotations: { '': 'x', 'com.example.k': '' } }), [
    { path: '/annotations/', message: 'key must not be empty' },
  ]);
});

test('mount destinations may be relative on Linux (taken from /) but not elsewhere; id-mapped mounts need both maps', () => {
  const map = [{ containerID: 0, hostID: 1000, size: 1 }];
  const spec = { ...goodSpec(), mounts: [{ destination: 'data' }, { destination: '/m', uidMappings: map }] };
  assert.deepEqual(rulesOf(spec), [{ path: '/mounts/1/gidMappings', message: 'is required when uidMappings is set' }]);
  assert.deepEqual(rulesOf({ ...goodSpec(), mounts: [{ destination: '/m', uidMappings: map, gidMappings: map }] }), []);
  const { linux: _linux, ...notLinux } = goodSpec();
  assert.deepEqual(rulesOf({ ...notLinux, hostname: undefined, freebsd: {}, mounts: [{ destination: 'data' }] } as Spec), [
    { path: '/mounts/0/destination', message: 'must be an absolute path' },
  ]);
});

test('hook paths must be absolute and timeouts positive', () => {
  const spec = { ...goodSpec(), hooks: { createRuntime: [{ path: '/ok' }, { path: 'bin/hook' }], poststart: [{ path: 'x/y' }] } };
  assert.deepEqual(rulesOf(spec), [
    { path: '/hooks/createRuntime/1/path', message: 'must be an absolute path' },
    { path: '/hooks/poststart/0/path', message: 'must be an absolute path' },
  ]);
  // The schema already refuses timeout 0; the rule still holds for documents that skip the schema.
  assert.deepEqual(checkConfigRules({ ...goodSpec(), hooks: { poststop: [{ path: '/x', timeout: 0 }] } }), [
    { path: '/hooks/poststop/0/timeout', message: 'must be greater than 0' },
  ]);
});

test('namespace types must not repeat and namespace paths must be absolute', () => {
  const spec = goodSpec();
  spec.linux = { namespaces: [{ type: 'pid' }, { type: 'uts' }, { type: 'pid', path: 'proc/1/ns/pid' }] };
  assert.deepEqual(rulesOf(spec), [
    { path: '/linux/namespaces/2/type', message: 'duplicate namespace type pid (also at /linux/namespaces/0)' },
    { path: '/linux/namespaces/2/path', message: 'must be an absolute path' },
  ]);
});

test('a new user namespace needs uid and gid mappings; mappings need a user namespace', () => {
  const spec = goodSpec();
  spec.linux = { namespaces: [{ type: 'uts' }, { type: 'user' }] };
  assert.deepEqual(rulesOf(spec), [
    { path: '/linux/uidMappings', message: 'is required when a new user namespace is created' },
    { path: '/linux/gidMappings', message: 'is required when a new user namespace is created' },
  ]);
  spec.linux = { namespaces: [{ type: 'uts' }, { type: 'user', path: '/proc/7/ns/user' }] };
  assert.deepEqual(rulesOf(spec), [], 'joining an existing user namespace needs no mappings');
  const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
  spec.linux = { namespaces: [{ type: 'uts' }, { type: 'user' }], uidMappings: map, gidMappings: map };
  assert.deepEqual(rulesOf(spec), []);
  spec.linux = { namespaces: [{ type: 'uts' }], uidMappings: map };
  assert.deepEqual(rulesOf(spec), [{ path: '/linux/uidMappings', message: 'needs a user namespace in /linux/namespaces' }]);
});

test('hostname and domainname need a uts namespace; time offsets need a time namespace', () => {
  const spec = { ...goodSpec(), domainname: 'example.test' };
  spec.linux = { namespaces: [{ type: 'pid' }], timeOffsets: { monotonic: { secs: 10 } } };
  assert.deepEqual(rulesOf(spec), [
    { path: '/hostname', message: 'needs a uts namespace in /linux/namespaces' },
    { path: '/domainname', message: 'needs a uts namespace in /linux/namespaces' },
    { path: '/linux/timeOffsets', message: 'needs a time namespace in /linux/namespaces' },
  ]);
  spec.linux = { namespaces: [{ type: 'uts' }, { type: 'time' }], timeOffsets: { monotonic: { secs: 10 } } };
  assert.deepEqual(rulesOf(spec), []);
  // Not a Linux config: the Linux namespace rule does not apply.
  assert.deepEqual(rulesOf({ ociVersion: '1.3.0', root: { path: 'r' }, hostname: 'jail', freebsd: {} }), []);
});

test('devices need absolute paths and major/minor unless they are FIFOs', () => {
  const spec = goodSpec();
  spec.linux = {
    namespaces: [{ type: 'uts' }],
    devices: [{ type: 'c', path: 'dev/null' }, { type: 'p', path: '/dev/fifo' }],
  };
  assert.deepEqual(rulesOf(spec), [
    { path: '/linux/devices/0/path', message: 'must be an absolute path' },
    { path: '/linux/devices/0/major', message: 'is required for device type c' },
    { path: '/linux/devices/0/minor', message: 'is required for device type c' },
  ]);
});

test('masked and read-only paths must be absolute; sysctl keys must not be empty', () => {
  const spec = goodSpec();
  spec.linux = { namespaces: [{ type: 'uts' }], maskedPaths: ['/ok', 'proc/kcore'], readonlyPaths: ['sys'], sysctl: { '': '1' } };
  assert.deepEqual(rulesOf(spec), [
    { path: '/linux/maskedPaths/1', message: 'must be an absolute path' },
    { path: '/linux/readonlyPaths/0', message: 'must be an absolute path' },
    { path: '/linux/sysctl/', message: 'key must not be empty' },
  ]);
});

test('sysctls must live in a namespace the container has of its own', () => {
  const spec = goodSpec();
  spec.linux = {
    namespaces: [{ type: 'uts' }, { type: 'ipc' }],
    sysctl: { 'kernel.shmmax': '1', 'fs.mqueue.msg_max': '10', 'kernel.hostname': 'x', 'net.ipv4.ip_forward': '1', 'vm.swappiness': '1' },
  };
  assert.deepEqual(rulesOf(spec), [
    { path: '/linux/sysctl/net.ipv4.ip_forward', message: 'needs a network namespace in /linux/namespaces' },
    { path: '/linux/sysctl/vm.swappiness', message: 'is not in a kernel namespace of the container, so it cannot be set' },
  ]);
  spec.linux = { namespaces: [{ type: 'uts' }, { type: 'network', path: '/run/netns/a' }], sysctl: { 'net/ipv4/ip_forward': '1' } };
  assert.deepEqual(rulesOf(spec), []);
});

test('every problem is reported, not only the first', () => {
  const spec: Spec = { ociVersion: 'x', process: { cwd: 'rel', args: [] }, mounts: [{ destination: '/d' }], hooks: { poststop: [{ path: 'rel' }] } };
  assert.deepEqual(
    rulesOf(spec).map((p) => p.path),
    ['/ociVersion', '/root', '/process/cwd', '/process/args', '/hooks/poststop/0/path'],
  );
});
