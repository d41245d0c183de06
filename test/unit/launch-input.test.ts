/**
 * renderLaunchInput and launchEnvironment: the launcher's line format (what native/input.c
 * parses), its encoding of awkward strings, and what it refuses to write.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeWord, launchEnvironment, renderLaunchInput, type LaunchSpec } from '../../src/monitor/index.js';

const NONE: number[] = [];
const BASE: LaunchSpec = {
  failStatus: { notFound: 127, other: 126 },
  uid: 1000,
  gid: 1001,
  additionalGids: [10, 20],
  umask: 0o022,
  capabilities: { bounding: [5, 10], effective: [5], inheritable: NONE, permitted: [5], ambient: NONE },
  noNewPrivileges: true,
  cwd: '/srv/my dir',
  env: ['PATH=/bin', 'X=a%b c'],
  args: ['sh', '-c', 'echo "$X"\n'],
};

describe('renderLaunchInput', () => {
  it('writes each field on its line, strings percent-encoded', () => {
    assert.equal(renderLaunchInput(BASE), [
      'proxrun-launch 1',
      'fail 127 126',
      'user 1000 1001',
      'groups 10 20',
      'caps 420 20 0 20 0',
      'cwd /srv/my%20dir',
      'umask 022',
      'nnp',
      'env PATH=/bin',
      'env X=a%25b%20c',
      'arg sh',
      'arg -c',
      'arg echo%20"$X"%0a',
      '',
    ].join('\n'));
  });

  it('leaves out umask and nnp when not asked for, and writes an empty groups line', () => {
    const { umask: _umask, ...rest } = BASE;
    const text = renderLaunchInput({ ...rest, additionalGids: [], noNewPrivileges: false });
    assert.doesNotMatch(text, /^umask /m);
    assert.doesNotMatch(text, /^nnp$/m);
    assert.match(text, /^groups$/m);
  });

  it('encodes every byte outside printable ASCII, space and % as %XX (UTF-8 bytes)', () => {
    assert.equal(encodeWord('é\t%z~'), '%c3%a9%09%25z~');
    assert.equal(encodeWord('\u007f'), '%7f');
  });

  it('refuses what the format cannot hold', () => {
    assert.throws(() => renderLaunchInput({ ...BASE, args: [] }), /program/);
    assert.throws(() => renderLaunchInput({ ...BASE, cwd: 'rel' }), /absolute/);
    assert.throws(() => renderLaunchInput({ ...BASE, env: ['A=\u0000'] }), /NUL/);
    assert.throws(() => renderLaunchInput({ ...BASE, uid: -1 }), /uid/);
    assert.throws(() => renderLaunchInput({ ...BASE, capabilities: { ...BASE.capabilities, ambient: [64] } }), /capability bit/);
    assert.throws(() => renderLaunchInput({ ...BASE, seccomp: { defaultAction: 0x7fff0000, enosysStub: false, flags: 0, architectures: [], rules: [{ name: 'read', action: 0, conditions: [{ index: 6, op: 4, value: 0n, valueTwo: 0n }] }] } }), /index/);
  });
});

describe('launchEnvironment', () => {
  it('splits the input into PROXRUN_LAUNCH_n variables below the kernel limit of one string', () => {
    const text = 'x'.repeat(250_000);
    const env = launchEnvironment(text);
    assert.deepEqual(Object.keys(env), ['PROXRUN_LAUNCH_0', 'PROXRUN_LAUNCH_1', 'PROXRUN_LAUNCH_2']);
    assert.ok(Object.values(env).every((v) => v.length <= 100_000));
    assert.equal(Object.values(env).join(''), text);
  });
});
