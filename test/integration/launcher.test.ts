/**
 * The in-container launcher (native/, dist/native/proxrun-launch), run directly on the host as
 * root in throwaway processes: each test renders an input with src/monitor/launch-input.ts, runs
 * the launcher on it and looks at what the exec'd program sees of itself (/proc/self/status, its
 * argv, env, cwd, umask, syscall results). What the kernel computes at execve is checked against
 * the rules of capabilities(7); the same launches inside real CTs are compared with runc in
 * test/integration/proxmox-lxc-runc-differential.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { launchEnvironment, renderLaunchInput, type LaunchSpec } from '../../src/monitor/index.js';
import { translateSeccomp } from '../../src/backends/proxmox-lxc/translate/translate-seccomp.js';
import { Findings } from '../../src/backends/shared/findings.js';
import type { LinuxSeccomp } from '../../src/oci/spec.js';
import { REPO_ROOT } from '../helpers/proxrun.js';
import { requireRoot } from '../helpers/host-setup.js';

const LAUNCHER = path.join(REPO_ROOT, 'dist/native/proxrun-launch');
const BUSYBOX = '/bin/busybox';
const NONE: number[] = [];
const CAP = { KILL: 5, SETGID: 6, SETUID: 7, NET_BIND_SERVICE: 10, AUDIT_WRITE: 29 };
/** x86_64 numbers for perl's syscall(). */
const NR = { personality: 135, futex_waitv: 449, quotactl_fd: 443 };

function base(args: string[]): LaunchSpec {
  return {
    failStatus: { notFound: 127, other: 126 },
    uid: 0,
    gid: 0,
    additionalGids: [],
    capabilities: { bounding: NONE, effective: NONE, inheritable: NONE, permitted: NONE, ambient: NONE },
    noNewPrivileges: false,
    cwd: '/',
    env: ['PATH=/usr/bin:/bin'],
    args,
  };
}

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function launch(spec: LaunchSpec, via: 'file' | 'env' = 'file'): Run {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-launcher-'));
  try {
    const text = renderLaunchInput(spec);
    const file = path.join(dir, 'input');
    fs.writeFileSync(file, text, { mode: 0o400 });
    const r = via === 'file'
      ? spawnSync(LAUNCHER, [file], { encoding: 'utf8', env: {}, timeout: 30_000 })
      : spawnSync(LAUNCHER, ['--env'], { encoding: 'utf8', env: launchEnvironment(text), timeout: 30_000 });
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function statusField(text: string, field: string): string {
  const m = new RegExp(`^${field}:[ \\t]*(.*)$`, 'm').exec(text);
  if (m?.[1] === undefined) throw new Error(`no ${field} in ${text}`);
  return m[1].trim();
}

function mask(...bits: number[]): string {
  return bits.reduce((m, b) => m | (1n << BigInt(b)), 0n).toString(16).padStart(16, '0');
}

function seccomp(profile: unknown): NonNullable<LaunchSpec['seccomp']> {
  const findings = new Findings(false);
  const out = translateSeccomp(profile as LinuxSeccomp, findings);
  assert.deepEqual(findings.problems, []);
  assert.ok(out);
  return out;
}

/** A perl one-liner run by the launcher; it prints what it is asked to. */
function perl(code: string): string[] {
  return ['perl', '-e', code];
}

describe('the launcher', { timeout: 120_000 }, () => {
  it('is built, static, and needs root to be tested', () => {
    requireRoot('the launcher tests');
    assert.ok(fs.existsSync(LAUNCHER), `${LAUNCHER} is missing: run npm run build`);
    assert.match(spawnSync('file', [LAUNCHER], { encoding: 'utf8' }).stdout, /statically linked/);
  });

  it('passes args, env and cwd exactly, whatever bytes they hold, from a file and from the environment', () => {
    const word = fc.string({ unit: 'binary', maxLength: 24 }).filter((s) => !s.includes('\0'));
    fc.assert(fc.property(fc.array(word, { maxLength: 6 }), fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/), word), { maxLength: 6 }), fc.constantFrom<'file' | 'env'>('file', 'env'), (args, pairs, via) => {
      const env = [...new Map(pairs.filter(([name]) => name !== 'HOME').map(([name, value]) => [name, `${name}=${value}`])).values(), 'HOME=/h'];
      const r = launch({ ...base(['/usr/bin/printf', '%s\\0', 'first', ...args]), env: [...env], cwd: '/tmp' }, via);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.split('\0').slice(0, -1), ['first', ...args]);
      const seen = launch({ ...base(['/usr/bin/env', '-0']), env: [...env] }, via);
      assert.deepEqual(seen.stdout.split('\0').slice(0, -1), env);
    }), { numRuns: 25 });
  });

  it('finds the program in the new PATH, sets a later name over an earlier one, HOME from /etc/passwd, umask and cwd', () => {
    const r = launch({ ...base(['sh', '-c', 'echo "$A|$HOME|$(umask)|$(pwd)"']), env: ['PATH=/nowhere:/bin', 'A=1', 'A=2'], uid: 65534, gid: 65534, umask: 0o027, cwd: '/tmp' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '2|/nonexistent|0027|/tmp\n');
    const noEntry = launch({ ...base(['sh', '-c', 'echo "$HOME"']), uid: 4242, gid: 4242 });
    assert.equal(noEntry.stdout, '/\n', 'a uid without a passwd entry gets HOME=/');
  });

  it('fails with the statuses it was given: 127 for a program not found, the other for the rest', () => {
    const missing = launch(base(['no-such-program']));
    assert.equal(missing.status, 127);
    assert.match(missing.stderr, /exec: "no-such-program": executable file not found in \$PATH/);
    const noCwd = launch({ ...base(['true']), cwd: '/does/not/exist', failStatus: { notFound: 255, other: 255 } });
    assert.equal(noCwd.status, 255);
    assert.match(noCwd.stderr, /chdir to cwd \("\/does\/not\/exist"\) set in config.json failed/);
    const notExec = launch(base(['/etc/passwd']));
    assert.equal(notExec.status, 126);
    assert.match(notExec.stderr, /permission denied/);
  });

  it('sets uid, gid and exactly the additional gids, with no_new_privs', () => {
    const r = launch({ ...base([BUSYBOX, 'cat', '/proc/self/status']), uid: 1000, gid: 1001, additionalGids: [20, 10, 20], noNewPrivileges: true });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statusField(r.stdout, 'Uid'), '1000\t1000\t1000\t1000');
    assert.equal(statusField(r.stdout, 'Gid'), '1001\t1001\t1001\t1001');
    assert.equal(statusField(r.stdout, 'Groups'), '10 20');
    assert.equal(statusField(r.stdout, 'NoNewPrivs'), '1');
    const plain = launch({ ...base([BUSYBOX, 'cat', '/proc/self/status']), uid: 1000, gid: 1000 });
    assert.equal(statusField(plain.stdout, 'NoNewPrivs'), '0');
    assert.equal(statusField(plain.stdout, 'Groups'), '', 'no additional gids means none, not root\'s');
  });

  it('gives a non-root user its ambient capabilities across the uid change, each set exact', () => {
    const capabilities = {
      bounding: [CAP.KILL, CAP.NET_BIND_SERVICE, CAP.AUDIT_WRITE],
      effective: [CAP.KILL, CAP.NET_BIND_SERVICE],
      permitted: [CAP.KILL, CAP.NET_BIND_SERVICE],
      inheritable: [CAP.NET_BIND_SERVICE],
      ambient: [CAP.NET_BIND_SERVICE],
    };
    const r = launch({ ...base([BUSYBOX, 'cat', '/proc/self/status']), uid: 1000, gid: 1000, capabilities });
    assert.equal(r.status, 0, r.stderr);
    // capabilities(7) at execve for a non-root user without file capabilities: P' = ambient.
    assert.equal(statusField(r.stdout, 'CapInh'), mask(CAP.NET_BIND_SERVICE));
    assert.equal(statusField(r.stdout, 'CapPrm'), mask(CAP.NET_BIND_SERVICE));
    assert.equal(statusField(r.stdout, 'CapEff'), mask(CAP.NET_BIND_SERVICE));
    assert.equal(statusField(r.stdout, 'CapBnd'), mask(CAP.KILL, CAP.NET_BIND_SERVICE, CAP.AUDIT_WRITE));
    assert.equal(statusField(r.stdout, 'CapAmb'), mask(CAP.NET_BIND_SERVICE));
    // An ambient capability that is not inheritable is not raised (gocapability ignores the error, as runc does).
    const noInh = launch({ ...base([BUSYBOX, 'cat', '/proc/self/status']), uid: 1000, gid: 1000, capabilities: { ...capabilities, inheritable: NONE } });
    assert.equal(noInh.status, 0, noInh.stderr);
    assert.equal(statusField(noInh.stdout, 'CapAmb'), mask());
    assert.equal(statusField(noInh.stdout, 'CapEff'), mask());
  });

  it('gives root its bounding and inheritable sets at execve (capabilities(7)), and every set as given before it', () => {
    const capabilities = { bounding: [CAP.KILL, CAP.AUDIT_WRITE], effective: [CAP.KILL], permitted: [CAP.KILL], inheritable: [CAP.KILL], ambient: [CAP.KILL] };
    const r = launch({ ...base([BUSYBOX, 'cat', '/proc/self/status']), capabilities });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statusField(r.stdout, 'CapPrm'), mask(CAP.KILL, CAP.AUDIT_WRITE));
    assert.equal(statusField(r.stdout, 'CapEff'), mask(CAP.KILL, CAP.AUDIT_WRITE));
    assert.equal(statusField(r.stdout, 'CapInh'), mask(CAP.KILL));
    assert.equal(statusField(r.stdout, 'CapBnd'), mask(CAP.KILL, CAP.AUDIT_WRITE));
    assert.equal(statusField(r.stdout, 'CapAmb'), mask(CAP.KILL));
  });

  it('installs a profile that denies mkdir with EPERM: mkdir fails, everything else works', () => {
    const spec = { ...base(perl('mkdir("/tmp/launcher-$$") ? print "made\\n" : print "mkdir: $!\\n"; open(my $f, "<", "/etc/hostname") or die; print "read ok\\n"')), seccomp: seccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }) };
    const r = launch(spec);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'mkdir: Operation not permitted\nread ok\n');
    const status = launch({ ...spec, args: [BUSYBOX, 'cat', '/proc/self/status'] });
    assert.equal(statusField(status.stdout, 'Seccomp'), '2');
  });

  it('applies each action: ERRNO with errnoRet, KILL, KILL_PROCESS, KILL_THREAD, TRAP (catchable), LOG, TRACE without a tracer, ALLOW', () => {
    const probe = perl('$SIG{SYS} = sub { print "trapped\\n"; exit 7 }; my $ok = mkdir("/tmp/launcher-act-$$"); my $e = "$!"; rmdir("/tmp/launcher-act-$$"); print $ok ? "ok\\n" : "err $e\\n"');
    const cases: Array<[string, number | undefined, Partial<Run>]> = [
      ['SCMP_ACT_ERRNO', 13, { status: 0, stdout: 'err Permission denied\n' }],
      ['SCMP_ACT_KILL', undefined, { signal: 'SIGSYS' }],
      ['SCMP_ACT_KILL_THREAD', undefined, { signal: 'SIGSYS' }],
      ['SCMP_ACT_KILL_PROCESS', undefined, { signal: 'SIGSYS' }],
      ['SCMP_ACT_TRAP', undefined, { status: 7, stdout: 'trapped\n' }],
      ['SCMP_ACT_LOG', undefined, { status: 0, stdout: 'ok\n' }],
      ['SCMP_ACT_TRACE', undefined, { status: 0, stdout: 'err Function not implemented\n' }],
      ['SCMP_ACT_ALLOW', undefined, { status: 0, stdout: 'ok\n' }],
    ];
    for (const [action, errnoRet, expected] of cases) {
      const profile = { defaultAction: action === 'SCMP_ACT_ALLOW' ? 'SCMP_ACT_LOG' : 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action, ...(errnoRet !== undefined ? { errnoRet } : {}) }] };
      const r = launch({ ...base(probe), seccomp: seccomp(profile) });
      for (const [key, value] of Object.entries(expected)) assert.equal(r[key as keyof Run], value, `${action}: ${key} (${JSON.stringify(r)})`);
    }
  });

  it('matches argument conditions with every operator; several on one argument become separate rules (any matches), as runc does', () => {
    // Each syscall takes a pid: one that does not exist gives ESRCH (3) unless a rule answers first.
    const P = 0x70000000;
    const rule = (names: string[], errnoRet: number, args: unknown[]): unknown => ({ names, action: 'SCMP_ACT_ERRNO', errnoRet, args });
    const profile = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        rule(['getpgid'], 13, [{ index: 0, value: P + 0x11, op: 'SCMP_CMP_EQ' }, { index: 0, value: P + 0x12, op: 'SCMP_CMP_EQ' }]),
        rule(['kill'], 5, [{ index: 0, value: 0xff, valueTwo: 0x42, op: 'SCMP_CMP_MASKED_EQ' }]),
        rule(['getsid'], 7, [{ index: 0, value: P + 5, op: 'SCMP_CMP_GT' }]),
        rule(['getpriority'], 7, [{ index: 1, value: P + 5, op: 'SCMP_CMP_GE' }]),
        rule(['sched_getscheduler'], 7, [{ index: 0, value: P + 5, op: 'SCMP_CMP_NE' }]),
        rule(['sched_getparam'], 7, [{ index: 0, value: P + 5, op: 'SCMP_CMP_LT' }]),
        rule(['sched_rr_get_interval'], 7, [{ index: 0, value: P + 5, op: 'SCMP_CMP_LE' }]),
        rule(['socket'], 22, [{ index: 0, value: 16, op: 'SCMP_CMP_EQ' }, { index: 2, value: 9, op: 'SCMP_CMP_EQ' }]),
      ],
    };
    const calls: Array<[string, string, number]> = [
      ['getpgid EQ', `syscall(121, ${P + 0x11})`, 13], ['getpgid EQ (second condition)', `syscall(121, ${P + 0x12})`, 13], ['getpgid', `syscall(121, ${P + 0x13})`, 3],
      ['kill MASKED_EQ', `syscall(62, ${P + 0x142}, 0)`, 5], ['kill', `syscall(62, ${P + 0x143}, 0)`, 3],
      ['getsid GT', `syscall(124, ${P + 6})`, 7], ['getsid', `syscall(124, ${P + 5})`, 3],
      ['getpriority GE', `syscall(140, 0, ${P + 5})`, 7], ['getpriority', `syscall(140, 0, ${P + 4})`, 3],
      ['sched_getscheduler NE', `syscall(145, ${P + 6})`, 7], ['sched_getscheduler', `syscall(145, ${P + 5})`, 3],
      ['sched_getparam LT', `syscall(143, ${P + 4}, $b)`, 7], ['sched_getparam', `syscall(143, ${P + 5}, $b)`, 3],
      ['sched_rr_get_interval LE', `syscall(148, ${P + 5}, $b)`, 7], ['sched_rr_get_interval', `syscall(148, ${P + 6}, $b)`, 3],
    ];
    const code = ['my $b = "\\0" x 64', ...calls.map(([, call]) => `${call}; print(($!+0) . "\\n")`),
      'for my $a ([16, 9], [16, 0], [2, 9]) { my $ok = socket(my $s, $a->[0], 3, $a->[1]); print(($ok ? "ok" : ($!+0)) . "\\n") }'].join(';');
    const r = launch({ ...base(perl(code)), seccomp: seccomp(profile) });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    calls.forEach(([what, , errno], i) => assert.equal(lines[i], String(errno), what));
    // socket(16, _, 9) matches both conditions (different arguments: one rule, all must hold); the others do not.
    assert.equal(lines[calls.length], '22');
    assert.notEqual(lines[calls.length + 1], '22');
    assert.notEqual(lines[calls.length + 2], '22');
  });

  it('puts runc\'s -ENOSYS stub in front: a syscall above the profile\'s highest gets ENOSYS, an unlisted lower one the default', () => {
    const podman = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test/unit/fixtures/translate/podman-run-default.json'), 'utf8')) as { linux: { seccomp: Record<string, unknown> } };
    const profile = { ...podman.linux.seccomp, defaultErrnoRet: 1 };
    const code = `for my $n (${NR.quotactl_fd}, ${NR.futex_waitv}) { syscall($n, 0, 0, 0, 0); print "$n:" . ($!+0) . "\\n" } print "ran\\n"`;
    const r = launch({ ...base(perl(code)), seccomp: seccomp(profile) });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${NR.quotactl_fd}:1\n${NR.futex_waitv}:38\nran\n`);
    const noStub = launch({ ...base(perl(code)), seccomp: { ...seccomp(profile), enosysStub: false } });
    assert.equal(noStub.stdout, `${NR.quotactl_fd}:1\n${NR.futex_waitv}:1\nran\n`, 'without the stub both get the default errno');
  });

  it('loads with seccomp(2) and the filter flags when the profile has flags (LOG, SPEC_ALLOW; TSYNC needs nothing)', () => {
    const profile = { defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'], syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] };
    const sc = seccomp(profile);
    assert.equal(sc.flags, 6);
    const r = launch({ ...base(perl('mkdir("/tmp/l-$$") ? print "made\\n" : print "$!\\n"')), seccomp: sc });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'Operation not permitted\n');
    // A flag the kernel does not know makes seccomp(2) fail: the flags really reach it.
    const bad = launch({ ...base(['true']), seccomp: { ...sc, flags: 1 << 30 } });
    assert.equal(bad.status, 126);
    assert.match(bad.stderr, /error loading seccomp filter into kernel: Invalid argument/);
  });

  it('skips syscall names libseccomp does not know, as runc does', () => {
    const r = launch({ ...base(perl('mkdir("/tmp/l-$$") ? print "made\\n" : print "$!\\n"')), seccomp: seccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['no_such_syscall', 'mkdir'], action: 'SCMP_ACT_ERRNO' }] }) });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'Operation not permitted\n');
  });

  it('loads the filter before the user switch without no_new_privs, after it with no_new_privs (runc\'s order)', () => {
    const deny = seccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['setgid', 'setuid'], action: 'SCMP_ACT_ERRNO' }] });
    const before = launch({ ...base(['id', '-u']), uid: 1000, gid: 1000, seccomp: deny });
    assert.equal(before.status, 126);
    assert.match(before.stderr, /unable to setup user: setgid: Operation not permitted/);
    const after = launch({ ...base(['id', '-u']), uid: 1000, gid: 1000, noNewPrivileges: true, seccomp: deny });
    assert.equal(after.status, 0, after.stderr);
    assert.equal(after.stdout, '1000\n');
  });

  it('refuses a malformed input with one line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-launcher-'));
    try {
      fs.writeFileSync(path.join(dir, 'bad'), 'proxrun-launch 1\nuser x 0\n');
      const r = spawnSync(LAUNCHER, [path.join(dir, 'bad')], { encoding: 'utf8' });
      assert.equal(r.status, 126);
      assert.equal(r.stderr, 'proxrun-launch: bad launch input: line 2: bad user\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
