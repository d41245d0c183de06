import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { translateSpec } from '../../src/backends/proxmox-lxc/translate/translate.js';
import { hostnameFromId, toDnsName } from '../../src/backends/proxmox-lxc/translate/hostname.js';
import { defaultSpec } from '../../src/oci/default-spec.js';
import type { Spec } from '../../src/oci/spec.js';
import { OPTIONS, withSpec } from './translate-helpers.js';

const fixture = (name: string): Spec => JSON.parse(readFileSync(new URL(`./fixtures/translate/${name}`, import.meta.url), 'utf8')) as Spec;
const annotated = (annotations: Record<string, string>) => translateSpec(withSpec({ annotations }), OPTIONS);

describe('hostname', () => {
  const names: Array<[string, string | undefined]> = [
    ['Web_Server.Example', 'web-server.example'], ['--a--', 'a'], [`${'x'.repeat(70)}.y`, `${'x'.repeat(63)}.y`], ['***', undefined], ['a..b', 'a.b'],
  ];
  for (const [raw, expected] of names) it(`${JSON.stringify(raw)} -> ${String(expected)}`, () => assert.equal(toDnsName(raw), expected));
  it('derives ct-<12 hex> from a 64-hex id and a DNS name from other ids', () => {
    assert.equal(hostnameFromId('AB'.repeat(32)), 'ct-abababababab');
    assert.equal(hostnameFromId('My_Box'), 'my-box');
  });
  it('refuses a hostname with nothing valid left and falls back to the id without one', () => {
    assert.deepEqual(translateSpec(withSpec({ hostname: '!!!' }), OPTIONS).problems, [{ path: '/hostname', message: 'has no character a DNS name may contain (a-z, 0-9, "-")' }]);
    assert.equal(translateSpec(withSpec({}), { ...OPTIONS, containerId: 'f'.repeat(64) }).plan?.createParams.hostname, 'ct-ffffffffffff');
  });
});

describe('createParams defaults and annotations', () => {
  it('creates an unmanaged, unprivileged, console-mode container described as a proxrun container', () => {
    const plan = translateSpec(withSpec({ hostname: 'web' }), OPTIONS).plan;
    assert.deepEqual(plan?.createParams, { ostype: 'unmanaged', unprivileged: 1, cmode: 'console', hostname: 'web', description: 'proxrun container c1' });
    assert.equal(plan?.storage, 'local');
    assert.equal(plan?.stopSignal, 'SIGTERM');
    assert.deepEqual(plan?.rawLxc.at(-1), ['lxc.signal.halt', 'SIGTERM']);
  });

  it('applies every io.proxrun.pve.* setting', () => {
    const plan = annotated({
      'io.proxrun.pve.storage': 'fast-zfs', 'io.proxrun.pve.node': 'pve2', 'io.proxrun.pve.pool': 'apps',
      'io.proxrun.pve.tags': 'Web, k8s;web', 'io.proxrun.pve.description': 'frontend', 'io.proxrun.pve.unprivileged': 'false',
      'io.proxrun.pve.features': 'nesting=1,mount=nfs;cifs', 'io.proxrun.pve.net0': 'name=eth0,bridge=vmbr0,ip=dhcp',
      'org.opencontainers.image.stopSignal': '2', 'com.example.other': 'ignored',
    }).plan;
    assert.equal(plan?.storage, 'fast-zfs');
    assert.equal(plan?.node, 'pve2');
    assert.deepEqual(plan?.createParams, {
      ostype: 'unmanaged', unprivileged: 0, cmode: 'console', hostname: 'c1', description: 'proxrun container c1\n\nfrontend',
      pool: 'apps', tags: 'Web;k8s;web', features: 'nesting=1,mount=nfs;cifs', net0: 'name=eth0,bridge=vmbr0,ip=dhcp',
    });
    assert.equal(plan?.stopSignal, 'SIGINT');
    assert.deepEqual(plan?.rawLxc.at(-1), ['lxc.signal.halt', 'SIGINT']);
  });

  const refused: Array<[Record<string, string>, string, string]> = [
    [{ 'io.proxrun.pve.memory': '512' }, '/annotations/io.proxrun.pve.memory', 'unknown proxmox-lxc setting (known: unprivileged, storage, node, pool, tags, description, features, net0)'],
    [{ 'io.proxrun.pve.tags': 'ok,-bad' }, '/annotations/io.proxrun.pve.tags', 'invalid tag(s) "-bad": each must match [a-z0-9_][a-z0-9_-+.]*'],
    [{ 'io.proxrun.pve.unprivileged': 'yes' }, '/annotations/io.proxrun.pve.unprivileged', 'must be 1, 0, true or false'],
    [{ 'io.proxrun.pve.features': 'nesting=2' }, '/annotations/io.proxrun.pve.features', 'nesting must be 0 or 1'],
    [{ 'io.proxrun.pve.features': 'keyctl=1', 'io.proxrun.pve.unprivileged': '0' }, '/annotations/io.proxrun.pve.features', 'keyctl is only available to unprivileged containers'],
    [{ 'io.proxrun.pve.net0': 'bridge=vmbr0' }, '/annotations/io.proxrun.pve.net0', 'must have name=<interface name inside the container>'],
    [{ 'io.proxrun.pve.storage': 'local\nx' }, '/annotations/io.proxrun.pve.storage', 'must not contain control characters'],
    [{ 'org.opencontainers.image.stopSignal': 'SIGNOPE' }, '/annotations/org.opencontainers.image.stopSignal', 'unknown signal "SIGNOPE"'],
  ];
  for (const [annotations, path, message] of refused) {
    it(`refuses ${path} = ${JSON.stringify(Object.values(annotations)[0])}`, () => assert.deepEqual(annotated(annotations).problems, [{ path, message }]));
  }
});

describe('whole configs', () => {
  it('translates the config ctr run writes without problems', () => {
    const result = translateSpec(fixture('ctr-run.json'), { ...OPTIONS, containerId: 'ctrcapture' });
    assert.deepEqual(result.problems, []);
    assert.equal(result.plan?.createParams.hostname, 'ctrcapture');
    assert.equal(result.plan?.createParams.cpuunits, 39);
    assert.equal(result.plan?.launch.noNewPrivileges, true);
    assert.deepEqual(result.plan?.rawLxc.filter(([key]) => key === 'lxc.mount.entry').map(([, v]) => v.split(' ')[1]), ['dev/shm', 'dev/mqueue', 'run']);
  });

  it('translates podman set up for this backend without problems, hosts and resolv.conf-style binds as files', () => {
    const spec = fixture('podman-run-fitted.json');
    const result = translateSpec(spec, { ...OPTIONS, containerId: 'f'.repeat(64) });
    assert.deepEqual(result.problems, []);
    const binds = result.plan?.rawLxc.filter(([key, v]) => key === 'lxc.mount.entry' && v.includes(' none ')).map(([, v]) => v.split(' ').slice(1).join(' '));
    assert.deepEqual(binds, [
      'etc/hosts none bind,create=file 0 0', 'dev/shm none bind,nosuid,noexec,nodev,create=dir 0 0',
      'run/.containerenv none bind,create=file 0 0', 'etc/hostname none bind,create=file 0 0',
    ]);
    assert.deepEqual(result.plan?.rawLxc.find(([key]) => key === 'lxc.cgroup2.pids.max'), ['lxc.cgroup2.pids.max', '2048']);
    assert.equal(result.plan?.stopSignal, 'SIGTERM');
  });

  it('names each default of podman that still needs a setting: netns path, sysctl (its seccomp profile is accepted)', () => {
    const result = translateSpec(fixture('podman-run-default.json'), OPTIONS);
    assert.deepEqual(result.problems.map((p) => p.path), ['/linux/namespaces/1/path', '/linux/sysctl/net.ipv4.ping_group_range']);
  });

  it('translates `proxrun spec` apart from its terminal, which it names', () => {
    const spec = defaultSpec({ rootless: false }) as unknown as Spec;
    assert.deepEqual(translateSpec(spec, OPTIONS).problems, [{ path: '/process/terminal', message: 'terminal mode is not supported by the proxmox-lxc backend' }]);
    const detached = { ...spec, process: { ...spec.process, terminal: false } } as Spec;
    const result = translateSpec(detached, OPTIONS);
    assert.deepEqual(result.problems, []);
    assert.equal(result.plan?.readonlyRoot, true);
    assert.equal(result.plan?.createParams.hostname, 'proxrun');
  });

  it('in lenient mode turns every problem into a warning and still yields a plan', () => {
    const spec = fixture('podman-run-default.json');
    const strict = translateSpec(spec, OPTIONS);
    const lenient = translateSpec(spec, { ...OPTIONS, lenient: true });
    assert.deepEqual(lenient.problems, []);
    assert.ok(lenient.plan);
    assert.deepEqual(lenient.plan.warnings, strict.problems.map((p) => `${p.path}: ${p.message} (accepted because lenient is set)`));
    assert.deepEqual(lenient.plan.rawLxc.filter(([key]) => key.startsWith('lxc.sysctl.')), []);
  });

  it('collects every problem, not just the first', () => {
    const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_NOTIFY' }] };
    const result = translateSpec(withSpec({ process: { terminal: true }, linux: { seccomp }, annotations: { 'io.proxrun.pve.x': '1' } }), OPTIONS);
    assert.deepEqual(result.problems.map((p) => p.path).sort(), ['/annotations/io.proxrun.pve.x', '/linux/seccomp/syscalls/0/action', '/process/terminal']);
  });

  it('is pure: the same input gives deep-equal output and the input is not changed', () => {
    const spec = fixture('podman-run-fitted.json');
    const before = structuredClone(spec);
    const first = translateSpec(spec, OPTIONS);
    const second = translateSpec(spec, OPTIONS);
    assert.deepEqual(first, second);
    assert.deepEqual(spec, before);
    (first.plan?.rawLxc ?? []).push(['lxc.x', 'y']);
    assert.notDeepEqual(first, translateSpec(spec, OPTIONS));
  });
});
