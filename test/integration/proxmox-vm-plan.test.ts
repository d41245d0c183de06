/**
 * The proxmox-vm backend's reading of OCI specs, without a VM: the spec ctr writes is accepted and
 * becomes the guest spec, memory and cores it should; podman's default spec is refused with every
 * field the VM cannot honour named; lenient turns those into warnings; limits map as documented.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MAX_COPIED_FILE_BYTES, planVm, type BindSource, type VmPlanOptions } from '../../src/backends/proxmox-vm/translate/vm-plan.js';
import type { Spec } from '../../src/oci/spec.js';
import { REPO_ROOT } from '../helpers/proxrun.js';

const fixture = (name: string): Spec => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test/unit/fixtures/translate', `${name}.json`), 'utf8')) as Spec;
const options: VmPlanOptions = { lenient: false, defaultMemoryMiB: 256, defaultCores: 1, virtiofsd: false };

test("ctr's default spec is accepted: args, root user, RLIMIT_NOFILE, default memory and cores", () => {
  const { plan, problems } = planVm(fixture('ctr-run'), options);
  assert.deepEqual(problems, []);
  assert.ok(plan);
  assert.deepEqual(plan.guest.args, ['true']);
  assert.equal(plan.guest.uid, 0);
  assert.deepEqual(plan.guest.rlimits, [{ name: 'nofile', soft: 1024, hard: 1024 }]);
  assert.equal(plan.memoryMiB, 256);
  assert.equal(plan.cores, 1);
});

test("podman's default spec: sysctl and the netns path are refused by name; bind-mounted files are copied, /dev/shm is the guest's tmpfs, pids.limit a guest cgroup; lenient runs it with warnings", () => {
  const spec = fixture('podman-run-default');
  const files = (source: string): BindSource => (source.endsWith('/shm') ? { kind: 'directory', size: 0 } : { kind: 'file', size: 120 });
  const { plan, problems } = planVm(spec, { ...options, describeSource: files });
  assert.equal(plan, undefined);
  assert.deepEqual(problems.map((p) => p.path).sort(), ['/linux/namespaces/1/path', '/linux/sysctl']);
  const lenient = planVm(spec, { ...options, lenient: true, describeSource: files });
  assert.deepEqual(lenient.problems, []);
  assert.equal(lenient.plan?.warnings.length, problems.length);
  assert.deepEqual(lenient.plan?.guest.rlimits?.map((r) => r.name), ['nofile', 'nproc']);
  assert.equal(lenient.plan?.guest.pidsLimit, 2048);
  assert.deepEqual(lenient.plan?.fileCopies.map((c) => c.destination).sort(), ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/run/.containerenv']);
  assert.deepEqual(lenient.plan?.shares, [], '/dev/shm is not shared from the host');
});

test('bind mounts: a directory is a virtiofs share where the node has virtiofsd and refused by name where not; large files, sources that are neither, and commas are refused', () => {
  const base = fixture('ctr-run');
  const kinds: Record<string, BindSource> = {
    '/srv/data': { kind: 'directory', size: 0 },
    '/srv/big': { kind: 'file', size: MAX_COPIED_FILE_BYTES + 1 },
    '/dev/null': { kind: 'other', size: 0 },
    '/srv/a,b': { kind: 'directory', size: 0 },
  };
  const describeSource = (source: string): BindSource => kinds[source] ?? { kind: 'missing', size: 0 };
  const mounts = [
    { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro'] },
    { destination: '/big', type: 'bind', source: '/srv/big', options: ['bind'] },
    { destination: '/null', type: 'bind', source: '/dev/null', options: ['bind'] },
    { destination: '/gone', type: 'bind', source: '/srv/gone', options: ['bind'] },
    { destination: '/comma', type: 'bind', source: '/srv/a,b', options: ['bind'] },
  ];
  const spec: Spec = { ...base, mounts: [...(base.mounts ?? []), ...mounts] };
  const offset = (base.mounts ?? []).length;
  const withVirtiofsd = planVm(spec, { ...options, virtiofsd: true, describeSource });
  assert.deepEqual(withVirtiofsd.problems.map((p) => p.path), [1, 2, 3, 4].map((i) => `/mounts/${offset + i}`));
  assert.match(withVirtiofsd.problems[0]?.message ?? '', /larger than/);
  assert.match(withVirtiofsd.problems[1]?.message ?? '', /neither a file nor a directory/);
  assert.match(withVirtiofsd.problems[2]?.message ?? '', /not an existing/);
  assert.match(withVirtiofsd.problems[3]?.message ?? '', /","/);
  const onlyData: Spec = { ...base, mounts: [...(base.mounts ?? []), mounts[0] as (typeof mounts)[0]] };
  assert.deepEqual(planVm(onlyData, { ...options, virtiofsd: true, describeSource }).plan?.shares, [{ source: '/srv/data', destination: '/data', readonly: true }]);
  const without = planVm(onlyData, { ...options, virtiofsd: false, describeSource });
  assert.deepEqual(without.problems.map((p) => p.path), [`/mounts/${offset}`]);
  assert.match(without.problems[0]?.message ?? '', /no virtiofsd/);
});

test('memory limit and CPU quota become VM memory (MiB, rounded up) and cores (ceil, at least 1)', () => {
  const base = fixture('ctr-run');
  const withResources = (resources: object): Spec => ({ ...base, linux: { ...base.linux, resources } });
  const a = planVm(withResources({ memory: { limit: 300 * 1024 * 1024 + 1 }, cpu: { quota: 250_000, period: 100_000 } }), options);
  assert.equal(a.plan?.memoryMiB, 301);
  assert.equal(a.plan?.cores, 3);
  const b = planVm(withResources({ cpu: { quota: 10_000 } }), options);
  assert.equal(b.plan?.cores, 1, 'a small quota still gets one core');
  const c = planVm(withResources({ memory: { limit: 32 * 1024 * 1024 } }), options);
  assert.deepEqual(c.problems.map((p) => p.path), ['/linux/resources/memory/limit']);
});

test('fields the guest cannot apply are refused by path', () => {
  const base = fixture('ctr-run');
  const spec: Spec = {
    ...base,
    process: { ...base.process, cwd: '/', terminal: true, user: { uid: 0, gid: 0, additionalGids: [5] }, rlimits: [{ type: 'RLIMIT_CORE', soft: 0, hard: 0 }] },
    hooks: { prestart: [{ path: '/bin/true' }] },
    domainname: 'example.org',
  };
  const paths = planVm(spec, options).problems.map((p) => p.path).sort();
  assert.deepEqual(paths, ['/domainname', '/hooks/prestart', '/process/rlimits/0/type', '/process/terminal', '/process/user/additionalGids']);
});
