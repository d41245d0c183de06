/**
 * renderInitScript and quoteShellWord, checked by running their output in
 * Debian's busybox sh (the shell that runs them in the container). What the
 * launcher does with the app's process is tested in launcher.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync } from 'node:fs';
import fc from 'fast-check';
import { quoteShellWord, renderInitScript } from '../../src/monitor/index.js';

const BUSYBOX = '/bin/busybox';

function requireBusybox(): void {
  try {
    accessSync(BUSYBOX);
  } catch {
    throw new Error(`${BUSYBOX} not found: install Debian package busybox-static`);
  }
}

/** What busybox sh makes of a list of quoted words: the argv it passes, NUL-separated. */
function shellWords(quoted: readonly string[]): string[] {
  const out = execFileSync(BUSYBOX, ['sh', '-c', `printf '%s\\0' ${quoted.join(' ')}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

test('quoteShellWord survives busybox sh for awkward words', () => {
  requireBusybox();
  const words = [`it's`, '"double"', '$HOME', '`id`', '$(id)', '', 'two\nlines', ' lead and trail ', '\\', '*', '~', '#x', "'", "''", 'a\tb'];
  assert.deepEqual(shellWords(words.map(quoteShellWord)), words);
});

test('quoteShellWord survives busybox sh for arbitrary strings', () => {
  requireBusybox();
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary', minLength: 0, maxLength: 20 }).filter((s) => !s.includes('\0')), { minLength: 1, maxLength: 8 }), (words) => {
      assert.deepEqual(shellWords(words.map(quoteShellWord)), words);
    }),
    { numRuns: 60 },
  );
});

test('quoteShellWord refuses NUL', () => {
  assert.throws(() => quoteShellWord('a\0b'), /NUL/);
});

test('renderInitScript starts the app through the launcher and its input file, with no arg or env in the script', () => {
  const script = renderInitScript();
  const line = script.split('\n').find((l) => l.includes('proxrun-holder'));
  assert.ok(line !== undefined, 'the script starts a holder');
  assert.match(line, / proxrun-holder '\/\.proxrun\/launch' '\/\.proxrun\/process' 9>&-$/);
  assert.doesNotMatch(script, / env -i /, 'the environment is not in the script');
  assert.match(script, /exec <\/dev\/null /, 'without stdin the app reads /dev/null');
  assert.match(renderInitScript({ stdin: true }), /exec <'\/\.proxrun\/stdin' /);
});

test('renderInitScript opens the status FIFO, sets its traps and opens the start FIFO before it says gate, starts the app after the gate, and reports the status', () => {
  const lines = renderInitScript().split('\n');
  const at = (prefix: string): number => lines.findIndex((l) => l.startsWith(prefix));
  const order = [
    at("exec 9>'/.proxrun/status'"),
    at("trap 'echo 143 >&9; exit 143' 15"),
    at("exec 8<>'/.proxrun/start'"),
    at('echo gate >&9'),
    at('read -r _ <&8'),
    at('exec 8<&-'),
    lines.findIndex((l) => l.includes('proxrun-holder')),
  ];
  assert.ok(order.every((n, i) => n >= 0 && (i === 0 || n > (order[i - 1] ?? 0))), `status FIFO, traps, start FIFO open, gate, start order, close, app: ${order.join(' ')}`);
  assert.ok(lines.includes('echo "$status" >&9'));
  assert.ok(lines.includes('exit "$status"'));
  assert.ok(lines.some((l) => l.startsWith("trap 'echo 143 >&9; exit 143' 15")), 'SIGTERM before start ends the init with 143');
});
