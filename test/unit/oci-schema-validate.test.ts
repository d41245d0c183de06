// Turning ajv errors into clear problems, the proxrun configuration schema, and problem formatting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { compileOfficialSchemas, repoRoot } from './fixtures/oci/official-schema.js';
import {
  enumPhrases,
  patternPhrases,
  problemsFromAjvErrors,
  validateConfigSchema,
  validateFeaturesSchema,
  validateProxrunConfigSchema,
  validateStateSchema,
} from '../../src/oci/schema-validate.js';
import { formatProblem, joinPointer } from '../../src/oci/problems.js';

test('formatProblem names the file, the JSON pointer and the rule', () => {
  assert.equal(formatProblem({ path: '/process/cwd', message: 'must be an absolute path' }), 'config.json: /process/cwd: must be an absolute path');
  assert.equal(formatProblem({ path: '', message: 'invalid JSON: x' }), 'config.json: invalid JSON: x');
  assert.equal(formatProblem({ path: '/a', message: 'm' }, '/etc/proxrun/config.json'), '/etc/proxrun/config.json: /a: m');
});

test('JSON pointers escape ~ and / in property names', () => {
  assert.equal(joinPointer('/annotations', 'a/b~c'), '/annotations/a~1b~0c');
  assert.equal(joinPointer('', 'process', 'args', 0), '/process/args/0');
});

test('a missing property is named in the path and reported as required', () => {
  assert.deepEqual(validateConfigSchema({}), [{ path: '/ociVersion', message: 'is required' }]);
  assert.deepEqual(validateConfigSchema({ ociVersion: '1.0.0', process: {} }), [{ path: '/process/cwd', message: 'is required' }]);
});

test('type, enum, pattern, range and length errors read as rules', () => {
  const doc = {
    ociVersion: 1,
    process: { cwd: '/', args: 'sh', ioPriority: { class: 'FAST' }, rlimits: [{ type: 'nofile', soft: -1, hard: 1 }] },
    hooks: { poststop: [{ path: '/x', timeout: 0 }] },
    linux: { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ALLOW' }] } },
  };
  assert.deepEqual(validateConfigSchema(doc), [
    { path: '/ociVersion', message: 'must be a string' },
    { path: '/process/args', message: 'must be an array' },
    { path: '/process/rlimits/0/type', message: 'must be a resource of setrlimit(2), such as "RLIMIT_NOFILE"' },
    { path: '/process/rlimits/0/soft', message: 'must be at least 0' },
    { path: '/process/ioPriority/class', message: 'must be one of "IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"' },
    { path: '/hooks/poststop/0/timeout', message: 'must be at least 1' },
    { path: '/linux/seccomp/syscalls/0/names', message: 'must have at least 1 entry' },
  ]);
});

test('a bad namespace type gives one problem, not the anyOf noise beside it', () => {
  assert.deepEqual(validateConfigSchema({ ociVersion: '1.0.0', linux: { namespaces: [{ type: 'net' }] } }), [
    { path: '/linux/namespaces/0/type', message: 'must be one of "mount", "pid", "network", "uts", "ipc", "user", "cgroup", "time"' },
  ]);
});

test('anyOf summaries are dropped when their branches already explain the error (official schema errors)', () => {
  const raw = compileOfficialSchemas().configErrors({ ociVersion: '1.0.0', linux: { namespaces: [{ type: 'net' }] } });
  assert.ok(raw.some((e) => e.keyword === 'anyOf'), 'the official schema reports an anyOf summary here');
  assert.deepEqual(problemsFromAjvErrors(raw), [
    { path: '/linux/namespaces/0/type', message: 'must be one of "mount", "pid", "network", "uts", "ipc", "user", "cgroup", "time"' },
  ]);
});

test('the document itself must be an object', () => {
  for (const doc of [null, [], 'x', 3]) {
    assert.deepEqual(validateConfigSchema(doc), [{ path: '', message: 'must be an object' }]);
  }
});

test('unknown properties are allowed in config.json, as the spec requires', () => {
  assert.deepEqual(validateConfigSchema({ ociVersion: '1.0.0', root: { path: 'r', future: 1 }, somethingNew: { x: 1 } }), []);
});

test('every pattern in our schemas has a plain-words message', () => {
  const patterns = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'pattern' && typeof value === 'string') patterns.add(value);
      walk(value);
    }
  };
  for (const file of fs.readdirSync(path.join(repoRoot, 'schemas')).filter((f) => f.endsWith('.schema.json'))) {
    walk(JSON.parse(fs.readFileSync(path.join(repoRoot, 'schemas', file), 'utf8')));
  }
  assert.ok(patterns.size >= 8, `found only ${patterns.size} patterns`);
  for (const pattern of patterns) assert.ok(patternPhrases.has(pattern), `no message for pattern ${pattern}`);
});

test('every enum of more than 10 values has a plain-words message, and the message is used', () => {
  const firsts: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'enum' && Array.isArray(value) && value.length > 10) firsts.push(String(value[0]));
      walk(value);
    }
  };
  walk(JSON.parse(fs.readFileSync(path.join(repoRoot, 'schemas/oci-config.schema.json'), 'utf8')));
  assert.deepEqual(firsts.sort(), [...enumPhrases.keys()].sort());
  const problems = validateConfigSchema({ ociVersion: '1.0.0', process: { cwd: '/', capabilities: { ambient: ['CAP_NET_RAW', 'NET_RAW'] } } });
  assert.deepEqual(problems, [{ path: '/process/capabilities/ambient/1', message: 'must be a capability name of capabilities(7), such as "CAP_CHOWN"' }]);
});

test('the proxrun configuration accepts a full, valid file', () => {
  const config = {
    defaultBackend: 'proxmox-lxc',
    lenient: false,
    runc: { path: '/usr/sbin/runc' },
    crun: { path: '/usr/bin/crun' },
    proxmox: {
      transport: 'api',
      node: 'pve1',
      storage: 'local-lvm',
      templateStorage: 'local',
      cliPath: '/usr/sbin',
      lxcPath: '/var/lib/lxc',
      pveDir: '/etc/pve',
      vmidRange: [10000, 19999],
      apiUrl: 'https://pve1:8006',
      tokenId: 'root@pam!proxrun',
      tokenSecretFile: '/etc/proxrun/token',
      fingerprint: Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase()).join(':'),
      caFile: null,
      timeoutSeconds: 120,
      rootfsDelivery: 'archive',
      vm: { kernel: '/boot/vmlinuz', initrd: null, memory: 512, cores: 2 },
    },
  };
  assert.deepEqual(validateProxrunConfigSchema(config), []);
  assert.deepEqual(validateProxrunConfigSchema({}), [], 'every field is optional');
});

test('the proxrun configuration refuses unknown fields and bad values with clear messages', () => {
  const config = {
    defaultBackend: 'docker',
    runc: { path: 'runc', args: [] },
    crun: { path: '/usr/bin/crun' },
    proxmox: {
      transport: 'ssh',
      vmidRange: [99, 1000000000],
      tokenId: 'root!proxrun',
      fingerprint: 'AB:CD',
      caFile: 5,
      timeoutSeconds: 0,
      vm: { memory: 64.5, cores: 0 },
    },
    extra: true,
  };
  assert.deepEqual(validateProxrunConfigSchema(config), [
    { path: '/extra', message: 'is not a known property' },
    { path: '/defaultBackend', message: 'must be one of "runc", "crun", "proxmox-lxc", "proxmox-vm"' },
    { path: '/runc/args', message: 'is not a known property' },
    { path: '/runc/path', message: 'must be an absolute path' },
    { path: '/proxmox/transport', message: 'must be one of "cli", "api"' },
    { path: '/proxmox/vmidRange/0', message: 'must be at least 100' },
    { path: '/proxmox/vmidRange/1', message: 'must be at most 999999999' },
    { path: '/proxmox/tokenId', message: 'must be an API token id: USER@REALM!TOKENID' },
    { path: '/proxmox/fingerprint', message: 'must be a SHA-256 fingerprint: 32 hex pairs separated by colons' },
    { path: '/proxmox/caFile', message: 'must be a string or null' },
    { path: '/proxmox/timeoutSeconds', message: 'must be greater than 0' },
    { path: '/proxmox/vm/memory', message: 'must be an integer' },
    { path: '/proxmox/vm/cores', message: 'must be at least 1' },
  ]);
  assert.deepEqual(validateProxrunConfigSchema({ proxmox: { vmidRange: [100] } }), [
    { path: '/proxmox/vmidRange', message: 'must have at least 2 entries' },
  ]);
});

test('state documents: runc-style output validates, including status "paused"', () => {
  const state = { ociVersion: '1.3.0', id: 'c1', status: 'paused', pid: 42, bundle: '/b', annotations: { a: 'b' } };
  assert.deepEqual(validateStateSchema(state), []);
  assert.deepEqual(validateStateSchema({ ...state, status: 'gone', pid: -1 }), [
    { path: '/status', message: 'must be one of "creating", "created", "running", "stopped", "paused"' },
    { path: '/pid', message: 'must be at least 0' },
  ]);
});

test('features documents need the version range', () => {
  assert.deepEqual(validateFeaturesSchema({ ociVersionMin: '1.0.0', ociVersionMax: '1.3.0', linux: { namespaces: ['pid'] } }), []);
  assert.deepEqual(validateFeaturesSchema({ ociVersionMin: '1.0.0', linux: { capabilities: ['chown'] } }), [
    { path: '/ociVersionMax', message: 'is required' },
    { path: '/linux/capabilities/0', message: 'must be a capability name such as CAP_CHOWN' },
  ]);
});
