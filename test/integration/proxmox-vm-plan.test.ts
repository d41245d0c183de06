/**
 * The proxmox-vm backend's reading of OCI specs, without a VM: the spec ctr writes is accepted and
 * becomes the guest spec, memory and cores it should; podman's default spec is refused with every
 * field the VM cannot honour named; lenient turns those into warnings; limits map as documented.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { planVm, type VmPlanOptions } from '../../src/backends/proxmox-vm/vm-plan.js';
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

test("podman's default spec is refused naming each field the VM cannot honour; lenient runs it with warnings", () => {
  const spec = fixture('podman-run-default');
  const { plan, problems } = planVm(spec, options);
  assert.equal(plan, undefined);
  const paths = problems.map((p) => p.path);
  assert.ok(paths.includes('/linux/sysctl'), paths.join(' '));
  assert.ok(paths.includes('/linux/resources/pids'), paths.join(' '));
  const bindIndex = (spec.mounts ?? []).findIndex((m) => m.destination === '/etc/hosts');
  assert.ok(paths.includes(`/mounts/${bindIndex}`), paths.join(' '));
  assert.match(problems.find((p) => p.path === `/mounts/${bindIndex}`)?.message ?? '', /virtiofsd/);
  const lenient = planVm(spec, { ...options, lenient: true });
  assert.deepEqual(lenient.problems, []);
  assert.equal(lenient.plan?.warnings.length, problems.length);
  assert.deepEqual(lenient.plan?.guest.rlimits?.map((r) => r.name), ['nofile', 'nproc']);
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
