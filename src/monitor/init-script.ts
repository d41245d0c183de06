/**
 * Renders the script the container runs as its init (through the bind-mounted
 * busybox). It stays PID 1 and runs the app below it, because:
 *  - a PID 1 ignores every signal it has no handler for, so `sleep` as PID 1
 *    would survive SIGTERM (measured on LXC 5.0.2);
 *  - LXC reports a signal death of its init as "exited with status [0]", so
 *    the exit status must come from a parent that saw the app end.
 *
 * Sequence: open the status FIFO (blocks until the host monitor listens), trap
 * every terminating signal, open the start FIFO and say `gate` on the status
 * FIFO (the monitor reports ready only then), wait for the start order, trap
 * every catchable signal to forward it to the app, connect stdio to the FIFOs,
 * start the app through the launcher, wait for its status on the result FIFO
 * (a `read` that traps interrupt), report it through the status FIFO, exit
 * with it.
 *
 * The init runs as the CT's root. The app is started by the launcher
 * (native/proxrun-launch, at /.proxrun/launch), which reads /.proxrun/process
 * (0400, the CT's root only: it holds process.env) and applies the OCI process
 * as runc's init does (cwd, user, groups, capabilities, no_new_privs, umask,
 * seccomp, env) before it execs process.args. No arg or env value is in this
 * script.
 *
 * How the app is started (see docs/monitor-design.md): busybox sh starts `&`
 * jobs with SIGINT and SIGQUIT ignored, and a foreground job cannot be
 * interrupted by traps. So the init runs `setsid setsid sh -c HOLDER` in the
 * foreground: the second setsid is a session leader, so it forks and exits at
 * once, and the holder (an orphan the init adopts) has default dispositions.
 * The holder writes its pid to the result FIFO, runs the app in its own
 * foreground (default dispositions again) and writes the app's `$?` after it.
 */
import { inContainer } from './layout.js';
import { quoteShellWord } from '../lib/shell-quote.js';
import { FORWARDED_SIGNALS, PRE_START_TRAPPED_SIGNALS } from './signals.js';

export interface InitScriptOptions {
  /** Connect the app's stdin to the stdin FIFO; otherwise it reads /dev/null. */
  readonly stdin?: boolean;
}

/** The status fd the init holds while the app runs (closed for the holder and the app). */
const STATUS_FD = 9;
/** The result FIFO: read end in the init, write end in the holder (closed for the app). */
const RESULT_W = 7;
const RESULT_R = 6;
/** The start FIFO, held open read-write from before `gate` is said until the start order was read. */
const START_FD = 8;

/** Shell functions of the init: queue a signal, and deliver the queue to the app (the holder's child). */
function forwardingFunctions(busybox: string): string[] {
  return [
    'H= Q=',
    'fwd() { Q="$Q $1"; sig=1; [ -z "$H" ] || deliver; }',
    'deliver() {',
    '  tries=0',
    '  while [ -n "$Q" ] && [ -d /proc/$H ]; do',
    '    app=',
    '    read -r app _ 2>/dev/null </proc/$H/task/$H/children',
    '    if [ -n "$app" ]; then for s in $Q; do kill -$s $app 2>/dev/null; done; Q=; return 0; fi',
    '    tries=$((tries + 1))',
    '    [ $tries -le 200 ] || break',
    `    ${busybox} usleep 5000`,
    '  done',
    '  Q=',
    '}',
    // A read that resumes after each trapped signal and fails only at EOF.
    `get() { while :; do sig=; v=; read -r v <&${RESULT_R} && return 0; [ -n "$sig" ] || return 1; done; }`,
  ];
}

export function renderInitScript(options: InitScriptOptions = {}): string {
  const busybox = quoteShellWord(inContainer('busybox'));
  const traps = PRE_START_TRAPPED_SIGNALS.map(
    (n) => `trap 'echo ${128 + n} >&${STATUS_FD}; exit ${128 + n}' ${n}`,
  );
  const stdinSource = options.stdin === true ? quoteShellWord(inContainer('stdin')) : '/dev/null';
  const command = [quoteShellWord(inContainer('launch')), quoteShellWord(inContainer('process'))].join(' ');
  const result = quoteShellWord(inContainer('result'));
  const holder = quoteShellWord(`echo $$ >&${RESULT_W}; "$@" ${RESULT_W}>&-; echo $? >&${RESULT_W}`);
  return [
    '# proxrun container init: generated, do not edit',
    `exec ${STATUS_FD}>${quoteShellWord(inContainer('status'))}`,
    ...traps,
    // The gate. Opened read-write, so that it never blocks and `proxrun start` (a non-blocking
    // open for writing) finds a reader from the moment the monitor hears `gate` until the order
    // is read. Only then does the monitor report ready: create returns with the traps set.
    `exec ${START_FD}<>${quoteShellWord(inContainer('start'))}`,
    `echo gate >&${STATUS_FD}`,
    `read -r _ <&${START_FD}`,
    `exec ${START_FD}<&-`,
    ...forwardingFunctions(busybox),
    `for n in ${FORWARDED_SIGNALS.join(' ')}; do trap "fwd $n" $n; done`,
    `exec <${stdinSource} >${quoteShellWord(inContainer('stdout'))} 2>${quoteShellWord(inContainer('stderr'))}`,
    // Opened read-write first, so that neither this open nor the read-only one below blocks.
    `exec ${RESULT_W}<>${result}`,
    `${busybox} setsid ${busybox} setsid ${busybox} sh -c ${holder} proxrun-holder ${command} ${STATUS_FD}>&-`,
    `exec ${RESULT_R}<${result}`,
    'get; H=$v',
    // Only the holder writes from now on: EOF means it ended without a status.
    `exec ${RESULT_W}>&-`,
    'case $H in \'\'|*[!0-9]*) H= ;; *) deliver ;; esac',
    'if [ -n "$H" ] && get; then status=$v; else status=; fi',
    'case $status in \'\'|*[!0-9]*) status=137 ;; esac',
    `echo "$status" >&${STATUS_FD}`,
    'exit "$status"',
    '',
  ].join('\n');
}
