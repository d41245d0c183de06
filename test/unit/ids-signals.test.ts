import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSignal, signalName } from '../../src/oci/signals.js';
import { RuntimeError } from '../../src/runtime/errors.js';
import { assertValidId } from '../../src/runtime/ids.js';

describe('container ids', () => {
  it('accepts what runc accepts: names, 64-hex ids, UUIDs, _ + - .', () => {
    for (const id of ['c1', 'a'.repeat(64), '3f2504e0-4f89-11d3-9a0c-0305e82c3301', 'my_app+v1.2', '.hidden', 'x..y']) {
      assert.equal(assertValidId(id), id);
    }
  });

  it('refuses empty, . and .., slashes, spaces and other characters, with a one-line message', () => {
    for (const id of ['', '.', '..', 'a/b', '../etc', 'a b', 'a@b', 'é', 'a\nb']) {
      assert.throws(() => assertValidId(id), (err: unknown) => err instanceof RuntimeError && err.code === 'InvalidArgument' && !err.message.includes('\n'), `id ${JSON.stringify(id)}`);
    }
    assert.throws(() => assertValidId(undefined), /container id cannot be empty/);
    assert.throws(() => assertValidId('a/b'), { message: 'invalid container ID format: "a/b" (only letters, digits, "_", "+", "-" and "." are allowed, and not "." or "..")' });
  });

  it('refuses ids that cannot name the lock file <id>.lock (255 bytes at most) with runc\'s message', () => {
    assert.equal(assertValidId('x'.repeat(250)), 'x'.repeat(250));
    assert.throws(() => assertValidId('x'.repeat(251)), { message: 'invalid container ID format: 251 characters, at most 250 (the id names files in the state root)' });
    assert.throws(() => assertValidId('x'.repeat(1024)), { message: 'invalid container ID format: 1024 characters, at most 250 (the id names files in the state root)' });
  });
});

describe('signals', () => {
  it('parses numbers, names and SIG names in any case', () => {
    assert.equal(parseSignal('15'), 15);
    assert.equal(parseSignal('9'), 9);
    assert.equal(parseSignal('KILL'), 9);
    assert.equal(parseSignal('SIGKILL'), 9);
    assert.equal(parseSignal('sigterm'), 15);
    assert.equal(parseSignal('term'), 15);
    assert.equal(parseSignal('USR1'), 10);
    assert.equal(parseSignal('SIGRTMIN+3'), 37);
    assert.equal(parseSignal('RTMAX'), 64);
  });

  it('refuses unknown names and out-of-range numbers', () => {
    assert.throws(() => parseSignal('FOO'), /unknown signal "FOO"/);
    assert.throws(() => parseSignal('SIGFOO'), /unknown signal "SIGFOO"/);
    assert.throws(() => parseSignal('0'), /between 1 and 64/);
    assert.throws(() => parseSignal('65'), /between 1 and 64/);
    assert.throws(() => parseSignal('-9'), /unknown signal/);
  });

  it('names numbers', () => {
    assert.equal(signalName(15), 'SIGTERM');
    assert.equal(signalName(200), undefined);
  });
});
