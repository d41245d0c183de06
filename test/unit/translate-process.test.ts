import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { translateSpec } from '../../src/backends/proxmox-lxc/translate/translate.js';
import { OPTIONS, withSpec } from './translate-helpers.js';

describe('translateSpec: process', () => {
  it('carries args, env, cwd and user to the monitor process, not to Proxmox', () => {
    const result = translateSpec(withSpec({ process: { args: ['a b', "it's"], env: ['A=1', 'B=x y'], cwd: '/srv', user: { uid: 1000, gid: 1001 } } }), OPTIONS);
    assert.deepEqual(result.problems, []);
    assert.deepEqual(result.plan?.process, { args: ['a b', "it's"], env: ['A=1', 'B=x y'], cwd: '/srv', user: { uid: 1000, gid: 1001 } });
    assert.equal(result.plan?.createParams.entrypoint, undefined);
    assert.equal(result.plan?.createParams.env, undefined);
  });

  it('gives the launcher user, additional gids (privileged or not), umask, nnp, cwd, env and args exactly', () => {
    const fragment = { process: { args: ['A=1', 'x y'], env: ['P=1', 'Q=a b'], cwd: '/srv', noNewPrivileges: true, user: { uid: 1000, gid: 1001, additionalGids: [10, 20], umask: 0o077 } } };
    for (const annotations of [{}, { 'io.proxrun.pve.unprivileged': '0' }]) {
      const result = translateSpec(withSpec({ ...fragment, annotations }), OPTIONS);
      assert.deepEqual(result.problems, []);
      const launch = result.plan?.launch;
      assert.deepEqual({ uid: launch?.uid, gid: launch?.gid, groups: launch?.additionalGids, umask: launch?.umask, nnp: launch?.noNewPrivileges },
        { uid: 1000, gid: 1001, groups: [10, 20], umask: 0o077, nnp: true });
      assert.deepEqual([launch?.cwd, launch?.env, launch?.args], ['/srv', ['P=1', 'Q=a b'], ['A=1', 'x y']]);
      assert.deepEqual(launch?.failStatus, { notFound: 127, other: 126 });
    }
    // runc's umask when none is given.
    assert.equal(translateSpec(withSpec({}), OPTIONS).plan?.launch.umask, 0o022);
  });

  const refusals: Array<[string, Record<string, unknown>, string, string]> = [
    ['terminal', { terminal: true }, '/process/terminal', 'terminal mode is not supported by the proxmox-lxc backend'],
    ['no args', { args: [] }, '/process/args', 'must name the program to run'],
    ['env without =', { env: ['NOVALUE'] }, '/process/env/0', 'must be NAME=VALUE with a non-empty name'],
    ['ioPriority', { ioPriority: { class: 'IOPRIO_CLASS_IDLE' } }, '/process/ioPriority', 'I/O priority is not supported by the proxmox-lxc backend'],
    ['scheduler', { scheduler: { policy: 'SCHED_BATCH' } }, '/process/scheduler', 'scheduler settings are not supported by the proxmox-lxc backend'],
    ['unknown rlimit', { rlimits: [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }] }, '/process/rlimits/0/type', 'unknown rlimit "RLIMIT_BOGUS"'],
    ['duplicate rlimit', { rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }, { type: 'RLIMIT_NOFILE', soft: 2, hard: 2 }] }, '/process/rlimits/1/type', 'RLIMIT_NOFILE is given more than once'],
    ['soft above hard', { rlimits: [{ type: 'RLIMIT_CORE', soft: 5, hard: 1 }] }, '/process/rlimits/0', 'soft limit is larger than the hard limit'],
    ['unknown capability', { capabilities: { ambient: ['CAP_FLY'] } }, '/process/capabilities/ambient/0', 'unknown capability "CAP_FLY"'],
    ['an AppArmor profile without AppArmor', { apparmorProfile: 'docker-default' }, '/process/apparmorProfile', 'AppArmor is not enabled on this host, so the profile cannot be applied (runc fails to apply it the same way)'],
    ['an SELinux label without SELinux', { selinuxLabel: 'system_u:system_r:container_t:s0' }, '/process/selinuxLabel', 'selinux label is specified in config, but selinux is disabled or not supported'],
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

  it('gives the launcher all five capability sets as bit numbers, for root and non-root alike', () => {
    const caps = { bounding: ['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_AUDIT_WRITE'], effective: ['CAP_KILL'], inheritable: ['CAP_NET_BIND_SERVICE'], permitted: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'] };
    for (const user of [{ uid: 0, gid: 0 }, { uid: 1000, gid: 1000 }]) {
      const result = translateSpec(withSpec({ process: { user, capabilities: caps } }), OPTIONS);
      assert.deepEqual(result.problems, []);
      assert.deepEqual(result.plan?.launch.capabilities, { bounding: [5, 10, 29], effective: [5], inheritable: [10], permitted: [5, 10], ambient: [10] });
    }
    // No capabilities object: runc gives the process none at all.
    assert.deepEqual(translateSpec(withSpec({}), OPTIONS).plan?.launch.capabilities, { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] });
  });

  it('keeps in the CT what any set names plus what the launcher needs until it drops it', () => {
    const withCaps = translateSpec(withSpec({ process: { capabilities: { bounding: ['CAP_NET_RAW'], permitted: ['CAP_SYS_TIME'], ambient: ['CAP_KILL'] } } }), OPTIONS);
    const caps = withCaps.plan?.rawLxc.filter(([key]) => key.startsWith('lxc.cap.'));
    assert.deepEqual(caps, [['lxc.cap.drop', ''], ['lxc.cap.keep', 'chown dac_override dac_read_search kill setgid setuid setpcap net_raw sys_admin sys_time']]);
    assert.deepEqual(withCaps.plan?.ctCapabilities, ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_NET_RAW', 'CAP_SYS_ADMIN', 'CAP_SYS_TIME']);
    const none = translateSpec(withSpec({}), OPTIONS);
    assert.deepEqual(none.plan?.rawLxc.filter(([key]) => key === 'lxc.cap.keep'), [['lxc.cap.keep', 'chown dac_override dac_read_search setgid setuid setpcap sys_admin']]);
  });

  it('maps apparmorProfile and selinuxLabel to LXC raw keys where the host runs that module', () => {
    const result = translateSpec(withSpec({ process: { apparmorProfile: 'unconfined', selinuxLabel: 'system_u:system_r:container_t:s0' } }), { ...OPTIONS, hostSecurity: { apparmor: true, selinux: true } });
    const raw = result.plan?.rawLxc ?? [];
    assert.deepEqual(raw.find(([key]) => key === 'lxc.apparmor.profile'), ['lxc.apparmor.profile', 'unconfined']);
    assert.deepEqual(raw.find(([key]) => key === 'lxc.selinux.context'), ['lxc.selinux.context', 'system_u:system_r:container_t:s0']);
    const newline = translateSpec(withSpec({ process: { apparmorProfile: 'a\nb' } }), { ...OPTIONS, hostSecurity: { apparmor: true, selinux: false } });
    assert.deepEqual(newline.problems, [{ path: '/process/apparmorProfile', message: 'must not contain control characters' }]);
  });

  it('carries oomScoreAdj, rlimits and the bounding set in the plan for start and exec', () => {
    const set = translateSpec(withSpec({ process: { oomScoreAdj: -500, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 20 }] } }), OPTIONS);
    assert.equal(set.plan?.oomScoreAdj, -500);
    assert.deepEqual(set.plan?.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 20 }]);
    const unset = translateSpec(withSpec({}), OPTIONS);
    assert.equal('oomScoreAdj' in (unset.plan ?? {}), false);
    assert.deepEqual(unset.plan?.rlimits, []);
  });

  it('refuses a spec without a process', () => {
    const spec = withSpec({});
    delete spec.process;
    assert.deepEqual(translateSpec(spec, OPTIONS).problems, [{ path: '/process', message: 'is required: the proxmox-lxc backend runs the process at start' }]);
  });
});
