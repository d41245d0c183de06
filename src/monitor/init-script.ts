/**
 * Renders the script the container runs as its init (through the bind-mounted
 * busybox). It stays PID 1 and runs the app as its only child, because:
 *  - a PID 1 ignores every signal it has no handler for, so `sleep` as PID 1
 *    would survive SIGTERM (measured on LXC 5.0.2);
 *  - LXC reports a signal death of its init as "exited with status [0]", so
 *    the exit status must come from a parent that saw the app end.
 *
 * Sequence: open the status FIFO (blocks until the host monitor listens), wait
 * for the start order, connect stdio to the FIFOs, enter cwd, run the app with
 * exactly process.env (under `setpriv --nnp` when the host left the no-new-privs flag), report `$?` through the status FIFO, exit with it.
 */
import { inContainer } from './layout.js';
import type { MonitoredProcess } from './process.js';
import { quoteShellWord } from './shell-quote.js';
import { PRE_START_TRAPPED_SIGNALS } from './signals.js';

export interface InitScriptOptions {
  /** Connect the app's stdin to the stdin FIFO; otherwise it reads /dev/null. */
  readonly stdin?: boolean;
}

/** The status fd the init holds while the app runs (closed for the app). */
const STATUS_FD = 9;

function checkProcess(process: MonitoredProcess): readonly string[] {
  const args = process.args ?? [];
  if (args.length === 0) throw new Error('process.args must name a program to run');
  if (args[0] === '') throw new Error('process.args[0] must not be empty');
  // busybox env would take a leading NAME=VALUE word as a variable, not as the program.
  if (args[0]?.includes('=')) throw new Error(`process.args[0] must not contain "=": ${JSON.stringify(args[0])}`);
  for (const entry of process.env ?? []) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`process.env entry is not NAME=VALUE: ${JSON.stringify(entry)}`);
  }
  if (!process.cwd.startsWith('/')) throw new Error(`process.cwd must be absolute: ${JSON.stringify(process.cwd)}`);
  return args;
}

export function renderInitScript(process: MonitoredProcess, options: InitScriptOptions = {}): string {
  const args = checkProcess(process);
  const busybox = quoteShellWord(inContainer('busybox'));
  const traps = PRE_START_TRAPPED_SIGNALS.map(
    (n) => `trap 'echo ${128 + n} >&${STATUS_FD}; exit ${128 + n}' ${n}`,
  );
  const stdinSource = options.stdin === true ? quoteShellWord(inContainer('stdin')) : '/dev/null';
  const envWords = (process.env ?? []).map(quoteShellWord);
  const command = [busybox, 'env', '-i', ...envWords, ...args.map(quoteShellWord)].join(' \\\n  ');
  return [
    '# proxrun container init: generated, do not edit',
    `exec ${STATUS_FD}>${quoteShellWord(inContainer('status'))}`,
    ...traps,
    `read -r _ <${quoteShellWord(inContainer('start'))}`,
    `trap - ${PRE_START_TRAPPED_SIGNALS.join(' ')}`,
    `exec <${stdinSource} >${quoteShellWord(inContainer('stdout'))} 2>${quoteShellWord(inContainer('stderr'))}`,
    `cd -- ${quoteShellWord(process.cwd)} || { echo 126 >&${STATUS_FD}; exit 126; }`,
    // process.noNewPrivileges: the host leaves a flag file before the start order.
    `if [ -e ${quoteShellWord(inContainer('noNewPrivs'))} ]; then set -- ${busybox} setpriv --nnp; else set --; fi`,
    '"$@" \\',
    `${command} ${STATUS_FD}>&-`,
    'status=$?',
    `echo "$status" >&${STATUS_FD}`,
    'exit "$status"',
    '',
  ].join('\n');
}
