/**
 * The host command of a proxmox-lxc exec (exec/exec-command.ts): lxc-attach as the CT's root
 * with the environment cleared but for the launcher's input (never on the command line), the
 * container's oomScoreAdj through choom, rlimits raised on the host and set exactly by the
 * launcher, the container's seccomp profile, and what it refuses.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execCommand, execLaunchSpec } from '../../src/backends/proxmox-lxc/exec/exec-command.js';
import type { ExecProcess } from '../../src/backends/proxmox-lxc/exec/exec-process.js';
import type { ProcessOptions } from '../../src/backends/proxmox-lxc/process-options.js';

const NONE: string[] = [];
const PROC: ExecProcess = {
  args: ['sh', '-c', 'echo $SECRET'],
  env: ['PATH=/bin', 'SECRET=hunter2'],
  cwd: '/tmp',
  uid: 1000,
  gid: 1000,
  additionalGids: [10],
  capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], inheritable: ['CAP_KILL'], permitted: ['CAP_KILL'], ambient: ['CAP_KILL'] },
  rlimits: [],
  noNewPrivileges: true,
};
const CONTAINER: ProcessOptions = { rlimits: [], ctCapabilities: ['CAP_KILL', 'CAP_SETUID'] };

function decodeInput(env: Readonly<Record<string, string>>): string {
  return Object.keys(env).filter((k) => k.startsWith('PROXRUN_LAUNCH_')).sort().map((k) => env[k]).join('');
}

describe('execCommand', () => {
  it('runs the launcher through lxc-attach as the CT root, the input only in the environment', () => {
    const { argv, env } = execCommand('/var/lib/lxc', 123, PROC, CONTAINER, '/usr/bin:/bin');
    assert.deepEqual(argv, ['lxc-attach', '-n', '123', '-P', '/var/lib/lxc', '--clear-env', '--keep-var', 'PROXRUN_LAUNCH_0', '-u', '0', '-g', '0', '--', '/.proxrun/launch', '--env']);
    assert.ok(!argv.join(' ').includes('hunter2'), 'no env value on the command line');
    assert.equal(env['PATH'], '/usr/bin:/bin');
    const input = decodeInput(env);
    assert.match(input, /^env SECRET=hunter2$/m);
    assert.match(input, /^user 1000 1000$/m);
    assert.match(input, /^groups 10$/m);
    assert.match(input, /^fail 255 255$/m);
    assert.match(input, /^nnp$/m);
    assert.doesNotMatch(input, /^umask /m, 'an exec keeps the umask it inherits, as under runc');
  });

  it("gives the exec the container's oomScoreAdj through choom and its seccomp profile", () => {
    const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] } as ProcessOptions['seccomp'];
    const { argv, env } = execCommand('/l', 5, PROC, { ...CONTAINER, oomScoreAdj: -300, ...(seccomp ? { seccomp } : {}) }, '/bin');
    assert.deepEqual(argv.slice(0, 5), ['choom', '-n', '-300', '--', 'lxc-attach']);
    assert.match(decodeInput(env), /^seccomp rule mkdir 50001$/m);
  });

  it("raises hard limits on the host to the larger of the exec's and the container's, and the launcher sets the exec's", () => {
    const container: ProcessOptions = { ...CONTAINER, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }] };
    const own = execCommand('/l', 5, { ...PROC, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 256, hard: 512 }, { type: 'RLIMIT_CORE', soft: 0, hard: 2 ** 64 - 1 }] }, container, '/bin');
    assert.deepEqual(own.argv.slice(0, 4), ['prlimit', '--nofile=1024:1024', '--core=unlimited:unlimited', 'lxc-attach']);
    assert.match(decodeInput(own.env), /^rlimit 7 256 512$/m);
    assert.match(decodeInput(own.env), /^rlimit 4 0 18446744073709551615$/m);
    // Without rlimits of its own the exec gets the container's (runc does the same).
    const inherited = execCommand('/l', 5, PROC, container, '/bin');
    assert.deepEqual(inherited.argv.slice(0, 3), ['prlimit', '--nofile=1024:1024', 'lxc-attach']);
    assert.throws(() => execCommand('/l', 5, { ...PROC, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 4096 }] }, container, '/bin'),
      /process\.rlimits: RLIMIT_NOFILE hard limit 4096 is above the container's \(1024\)/);
  });

  it("refuses a capability outside the CT's bounding set, naming the set", () => {
    assert.throws(() => execLaunchSpec({ ...PROC, capabilities: { ...PROC.capabilities, permitted: ['CAP_SYS_MODULE'] } }, CONTAINER),
      /process\.capabilities\.permitted: CAP_SYS_MODULE outside the container's bounding set/);
    assert.deepEqual(execLaunchSpec({ ...PROC, capabilities: { bounding: NONE, effective: NONE, inheritable: NONE, permitted: NONE, ambient: NONE } }, CONTAINER).capabilities,
      { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] });
  });

  it('splits a large input over several variables, each kept by name', () => {
    const env = Array.from({ length: 3000 }, (_, i) => `VAR${i}=${'x'.repeat(60)}`);
    const { argv, env: out } = execCommand('/l', 5, { ...PROC, env }, CONTAINER, '/bin');
    const kept = argv.filter((_, i) => argv[i - 1] === '--keep-var');
    assert.ok(kept.length >= 2, `${kept.length} variables`);
    assert.deepEqual(kept, Object.keys(out).filter((k) => k.startsWith('PROXRUN_LAUNCH_')));
  });
});
