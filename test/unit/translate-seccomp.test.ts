/**
 * linux.seccomp -> the launcher's seccomp input: actions with their errno as runc's getAction
 * gives them, operators, architectures by runc 1.1's table, flags, one rule per name, the -ENOSYS
 * stub decision of runc's patchbpf, and the refusals (each naming its JSON path).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { translateSeccomp } from '../../src/backends/proxmox-lxc/translate/translate-seccomp.js';
import { Findings } from '../../src/backends/shared/findings.js';
import type { LinuxSeccomp } from '../../src/oci/spec.js';
import { translateSpec } from '../../src/backends/proxmox-lxc/translate/translate.js';
import { renderLaunchInput } from '../../src/monitor/index.js';
import { OPTIONS, withSpec } from './translate-helpers.js';

function run(seccomp: unknown): { result: ReturnType<typeof translateSeccomp>; findings: Findings } {
  const findings = new Findings(false);
  return { result: translateSeccomp(seccomp as LinuxSeccomp, findings), findings };
}

describe('translateSeccomp', () => {
  it('is off when absent, or with neither a default action nor syscalls (as runc)', () => {
    assert.equal(run(undefined).result, undefined);
    assert.equal(run({ defaultAction: '' }).result, undefined);
  });

  it('maps every action with runc\'s errno defaults: ERRNO and TRACE take EPERM, TRAP ignores errnoRet', () => {
    const actions = ['SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_LOG', 'SCMP_ACT_ALLOW'];
    const { result, findings } = run({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        ...actions.map((action) => ({ names: [`a_${action}`], action })),
        { names: ['e5'], action: 'SCMP_ACT_ERRNO', errnoRet: 5 },
        { names: ['t5'], action: 'SCMP_ACT_TRACE', errnoRet: 5 },
        { names: ['trap5'], action: 'SCMP_ACT_TRAP', errnoRet: 5 },
      ],
    });
    assert.deepEqual(findings.problems, []);
    assert.deepEqual(result?.rules.map((r) => [r.name, r.action.toString(16)]), [
      ['a_SCMP_ACT_KILL', '0'], ['a_SCMP_ACT_KILL_THREAD', '0'], ['a_SCMP_ACT_KILL_PROCESS', '80000000'], ['a_SCMP_ACT_TRAP', '30000'],
      ['a_SCMP_ACT_ERRNO', '50001'], ['a_SCMP_ACT_TRACE', '7ff00001'], ['a_SCMP_ACT_LOG', '7ffc0000'], ['a_SCMP_ACT_ALLOW', '7fff0000'],
      ['e5', '50005'], ['t5', '7ff00005'], ['trap5', '30000'],
    ]);
  });

  it('gives one rule per name, with every condition, operator and value', () => {
    const { result } = run({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 38,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_TSYNC'],
      syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [
        { index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 1, value: 0xff, valueTwo: 0x10, op: 'SCMP_CMP_MASKED_EQ' },
      ] }],
    });
    assert.equal(result?.defaultAction, 0x50026);
    assert.equal(result?.flags, 6);
    assert.deepEqual(result?.architectures, ['x86_64', 'x86', 'x32']);
    const conditions = [{ index: 0, op: 4, value: 1n, valueTwo: 0n }, { index: 1, op: 7, value: 255n, valueTwo: 16n }];
    assert.deepEqual(result?.rules, [
      { name: 'read', action: 0x7fff0000, conditions },
      { name: 'write', action: 0x7fff0000, conditions },
    ]);
  });

  it('adds runc\'s -ENOSYS stub unless the default action is permissive', () => {
    for (const [defaultAction, stub] of [['SCMP_ACT_ERRNO', true], ['SCMP_ACT_KILL', true], ['SCMP_ACT_ALLOW', false], ['SCMP_ACT_LOG', false], ['SCMP_ACT_TRACE', false]] as const) {
      assert.equal(run({ defaultAction, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }).result?.enosysStub, stub, defaultAction);
    }
    // runc compares defaultErrnoRet with the whole SCMP_ACT_ERRNO(ENOSYS) value, so 38 still gets the stub.
    assert.equal(run({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38 }).result?.enosysStub, true);
  });

  const refusals: Array<[string, unknown, string, string]> = [
    ['NOTIFY as default', { defaultAction: 'SCMP_ACT_NOTIFY' }, '/linux/seccomp/defaultAction', 'SCMP_ACT_NOTIFY cannot be used as default action'],
    ['a NOTIFY rule', { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }, '/linux/seccomp/syscalls/0/action',
      'SCMP_ACT_NOTIFY is not supported by the proxmox-lxc backend: the listener fd would have to reach the seccomp agent (listenerPath) on the host from inside the CT'],
    ['an unknown architecture', { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_RISCV64'] }, '/linux/seccomp/architectures/0', 'string SCMP_ARCH_RISCV64 is not a valid arch for seccomp'],
    ['WAIT_KILLABLE_RECV', { defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] }, '/linux/seccomp/flags/0',
      'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported by the proxmox-lxc backend (it only matters with SCMP_ACT_NOTIFY)'],
    ['an argument index above 5', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] },
      '/linux/seccomp/syscalls/0/args/0/index', 'syscalls only have up to 6 arguments (index 0-5)'],
    ['a value JSON cannot carry exactly', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 2 ** 60, op: 'SCMP_CMP_EQ' }] }] },
      '/linux/seccomp/syscalls/0/args/0/value', 'must be an integer from 0 to 2^53 - 1 here (larger values do not survive JSON parsing exactly)'],
    ['an empty name', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [''], action: 'SCMP_ACT_ERRNO' }] }, '/linux/seccomp/syscalls/0/names/0', 'empty string is not a valid syscall'],
  ];
  for (const [name, seccomp, path, message] of refusals) {
    it(`refuses ${name} at ${path}`, () => {
      const result = translateSpec(withSpec({ linux: { seccomp } }), OPTIONS);
      assert.equal(result.plan, undefined);
      assert.deepEqual(result.problems, [{ path, message }]);
    });
  }

  it('with lenient leaves out only the rule it cannot express', () => {
    const findings = new Findings(true);
    const result = translateSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }, { names: ['rmdir'], action: 'SCMP_ACT_ERRNO' }] } as LinuxSeccomp, findings);
    assert.deepEqual(result?.rules.map((r) => r.name), ['rmdir']);
    assert.equal(findings.warnings.length, 1);
  });

  it('reaches the launch input of the plan, rendered for the launcher', () => {
    const plan = translateSpec(withSpec({ linux: { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' },
      { names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 22, args: [{ index: 0, value: 8, op: 'SCMP_CMP_NE' }] },
    ] } } }), OPTIONS).plan;
    assert.ok(plan);
    const lines = renderLaunchInput(plan.launch).split('\n').filter((l) => l.startsWith('seccomp '));
    assert.deepEqual(lines, ['seccomp default 7fff0000', 'seccomp arch x86_64', 'seccomp rule mkdir 50001', 'seccomp rule personality 50016 0 1 8 0']);
    assert.equal(plan.seccomp?.defaultAction, 'SCMP_ACT_ALLOW', 'the profile is kept for execs');
  });
});
