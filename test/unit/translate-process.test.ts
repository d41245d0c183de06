import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { translateSpec } from '../../src/backends/proxmox-lxc/translate/translate.js';
import { OPTIONS, withSpec } from './translate-helpers.js';

const ALL_ROOT_CAPS = ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

describe('translateSpec: process', () => {
  it('carries args, env, cwd and user to the monitor process, not to Proxmox', () => {
    const result = translateSpec(withSpec({ process: { args: ['a b', "it's"], env: ['A=1', 'B=x y'], cwd: '/srv', user: { uid: 1000, gid: 1001 } } }), OPTIONS);
    assert.deepEqual(result.problems, []);
    assert.deepEqual(result.plan?.process, { args: ['a b', "it's"], env: ['A=1', 'B=x y'], cwd: '/srv', user: { uid: 1000, gid: 1001 } });
    assert.equal(result.plan?.createParams.entrypoint, undefined);
    assert.equal(result.plan?.createParams.env, undefined);
  });

  it('keeps additional gids for a privileged container and refuses them for an unprivileged one', () => {
    const fragment = { process: { user: { uid: 0, gid: 0, additionalGids: [10, 20] } } };
    const privileged = translateSpec(withSpec({ ...fragment, annotations: { 'io.proxrun.pve.unprivileged': '0' } }), OPTIONS);
    assert.deepEqual(privileged.plan?.process.user, { uid: 0, gid: 0, additionalGids: [10, 20] });
    const unprivileged = translateSpec(withSpec(fragment), OPTIONS);
    assert.deepEqual(unprivileged.problems.map((p) => p.path), ['/process/user/additionalGids']);
  });

  const refusals: Array<[string, Record<string, unknown>, string, string]> = [
    ['terminal', { terminal: true }, '/process/terminal', 'terminal mode is not supported by the proxmox-lxc backend'],
    ['no args', { args: [] }, '/process/args', 'must name the program to run'],
    ['= in args[0]', { args: ['A=1'] }, '/process/args/0', 'must not contain "=": the monitor runs the program through env(1), which would read it as a variable'],
    ['umask 077', { user: { uid: 0, gid: 0, umask: 0o077 } }, '/process/user/umask', 'only the default umask 0022 is supported by the proxmox-lxc backend'],
    ['ioPriority', { ioPriority: { class: 'IOPRIO_CLASS_IDLE' } }, '/process/ioPriority', 'I/O priority is not supported by the proxmox-lxc backend'],
    ['scheduler', { scheduler: { policy: 'SCHED_BATCH' } }, '/process/scheduler', 'scheduler settings are not supported by the proxmox-lxc backend'],
    ['unknown rlimit', { rlimits: [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }] }, '/process/rlimits/0/type', 'unknown rlimit "RLIMIT_BOGUS"'],
    ['duplicate rlimit', { rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }, { type: 'RLIMIT_NOFILE', soft: 2, hard: 2 }] }, '/process/rlimits/1/type', 'RLIMIT_NOFILE is given more than once'],
    ['soft above hard', { rlimits: [{ type: 'RLIMIT_CORE', soft: 5, hard: 1 }] }, '/process/rlimits/0', 'soft limit is larger than the hard limit'],
    ['unknown capability', { capabilities: { bounding: ['CAP_FLY'] } }, '/process/capabilities/bounding/0', 'unknown capability "CAP_FLY"'],
    ['root effective differs', { capabilities: { bounding: ALL_ROOT_CAPS, effective: ['CAP_KILL'] } }, '/process/capabilities/effective', 'must equal the bounding set: a root process in a proxmox-lxc container holds its whole bounding set'],
    ['ambient', { capabilities: { bounding: ALL_ROOT_CAPS, ambient: ['CAP_KILL'] } }, '/process/capabilities/ambient', 'ambient capabilities are not supported by the proxmox-lxc backend'],
    ['non-root with caps', { user: { uid: 5, gid: 5 }, capabilities: { bounding: ALL_ROOT_CAPS, permitted: ['CAP_KILL'] } }, '/process/capabilities/permitted', 'must be empty for a non-root user: the proxmox-lxc backend cannot give a non-root process capabilities'],
    ['apparmor newline', { apparmorProfile: 'a\nb' }, '/process/apparmorProfile', 'must not contain control characters'],
  ];
  for (const [name, fragment, path, message] of refusals) {
    it(`refuses ${name} at ${path}`, () => {
      const result = translateSpec(withSpec({ process: fragment }), OPTIONS);
      assert.equal(result.plan, undefined);
      assert.deepEqual(result.problems, [{ path, message }]);
    });
  }

  it('turns rlimits into lxc.prlimit.<name> = soft:hard, with unlimited for RLIM_INFINITY', () => {
    const result = translateSpec(withSpec({ process: { rlimits: [
      { type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 },
      { type: 'RLIMIT_CORE', soft: 0, hard: 18446744073709551615 },
    ] } }), OPTIONS);
    const prlimits = result.plan?.rawLxc.filter(([key]) => key.startsWith('lxc.prlimit.'));
    assert.deepEqual(prlimits, [['lxc.prlimit.nofile', '1024:4096'], ['lxc.prlimit.core', '0:unlimited']]);
  });

  it('turns the bounding set into lxc.cap.keep after clearing lxc.cap.drop, and no capabilities into "none"', () => {
    const withCaps = translateSpec(withSpec({ process: { capabilities: { bounding: ALL_ROOT_CAPS, effective: [...ALL_ROOT_CAPS].reverse(), permitted: ALL_ROOT_CAPS } } }), OPTIONS);
    const caps = withCaps.plan?.rawLxc.filter(([key]) => key.startsWith('lxc.cap.'));
    assert.deepEqual(caps, [['lxc.cap.drop', ''], ['lxc.cap.keep', 'chown kill net_bind_service']]);
    const none = translateSpec(withSpec({}), OPTIONS);
    assert.deepEqual(none.plan?.rawLxc.filter(([key]) => key.startsWith('lxc.cap.')), [['lxc.cap.drop', ''], ['lxc.cap.keep', 'none']]);
  });

  it('maps apparmorProfile and selinuxLabel to LXC raw keys', () => {
    const result = translateSpec(withSpec({ process: { apparmorProfile: 'unconfined', selinuxLabel: 'system_u:system_r:container_t:s0' } }), OPTIONS);
    const raw = result.plan?.rawLxc ?? [];
    assert.deepEqual(raw.find(([key]) => key === 'lxc.apparmor.profile'), ['lxc.apparmor.profile', 'unconfined']);
    assert.deepEqual(raw.find(([key]) => key === 'lxc.selinux.context'), ['lxc.selinux.context', 'system_u:system_r:container_t:s0']);
  });

  it('carries noNewPrivileges and oomScoreAdj in the plan for the backend to apply', () => {
    const set = translateSpec(withSpec({ process: { noNewPrivileges: true, oomScoreAdj: -500 } }), OPTIONS);
    assert.equal(set.plan?.noNewPrivileges, true);
    assert.equal(set.plan?.oomScoreAdj, -500);
    const unset = translateSpec(withSpec({}), OPTIONS);
    assert.equal(unset.plan?.noNewPrivileges, false);
    assert.equal('oomScoreAdj' in (unset.plan ?? {}), false);
  });

  it('refuses a spec without a process', () => {
    const spec = withSpec({});
    delete spec.process;
    assert.deepEqual(translateSpec(spec, OPTIONS).problems, [{ path: '/process', message: 'is required: the proxmox-lxc backend runs the process at start' }]);
  });
});
