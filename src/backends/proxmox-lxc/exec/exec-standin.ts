/**
 * The stand-in of a detached exec: the process whose pid `exec --detach --pid-file` hands to the
 * shim or conmon. lxc-attach alone cannot play that part: a signal ends lxc-attach and leaves the
 * exec'd process running in the CT. The stand-in is a host busybox `sh` script, run as
 * `BUSYBOX sh -c SCRIPT proxrun-exec BUSYBOX ENV RUNDIR lxc-attach ARGS...`, which
 *
 *  - starts lxc-attach as its child through coreutils `env --default-signal` (a busybox `&` job
 *    starts with SIGINT and SIGQUIT ignored, and the exec'd process would inherit that);
 *  - finds the exec'd process's host pid: lxc-attach's child that lives in another pid namespace
 *    (LXC creates it with CLONE_PARENT, so it is a direct child; NSpid in /proc/PID/status has two
 *    numbers for it), and reports ready on fd 3 once that process exists or lxc-attach ended;
 *  - does not end before proxrun (EOF on fd 3): a quick exec's status must reach the shim or
 *    conmon, which only reap the stand-in once proxrun exited and left it to them;
 *  - forwards every catchable signal but SIGCHLD to that process (queued until it is known);
 *  - exits with lxc-attach's status, which is the exec's (lxc-attach gives 128+N for a signal),
 *    re-raising N on itself so a reaper computes 128+N;
 *  - keeps a watcher (a forked subshell) reading a FIFO that only the stand-in holds open for
 *    writing: when the stand-in ends without saying "done" (SIGKILL), the watcher sees EOF and
 *    SIGKILLs the exec'd process, so nothing of the exec stays in the CT.
 */
import { FORWARDED_SIGNALS, TERMINATING_SIGNALS } from '../../../monitor/signals.js';

/** The stand-in's fd on which it reports that the exec runs (or already ended). */
export const STANDIN_READY_FD = 3;

export function renderExecStandin(): string {
  return `# proxrun exec stand-in: generated
BB=$1 ENVBIN=$2 RUNDIR=$3
shift 3
ulimit -c 0

# Keep 0, 1, 2, the ready fd and what busybox opened for itself (close-on-exec): nothing else may reach the CT.
for f in /proc/$$/fd/*; do
  n=\${f##*/}
  [ "$n" -gt ${STANDIN_READY_FD} ] 2>/dev/null || continue
  flags=
  while read -r key value; do [ "$key" = flags: ] && flags=$value; done 2>/dev/null </proc/$$/fdinfo/$n
  [ -n "$flags" ] || continue
  [ $(( 0$flags & 02000000 )) -ne 0 ] || eval "exec $n>&-"
done

# Sets APP to the child of lxc-attach $1 that lives in the CT's pid namespace; fails once $1 ended.
find_app() {
  while :; do
    state=
    while read -r key value _; do [ "$key" = State: ] && { state=$value; break; }; done 2>/dev/null </proc/$1/status
    case $state in ''|Z|X) return 1 ;; esac
    kids=
    read -r kids 2>/dev/null </proc/$1/task/$1/children
    for c in $kids; do
      ns=
      while read -r key outer inner _; do [ "$key" = NSpid: ] && { ns=$inner; break; }; done 2>/dev/null </proc/$c/status
      [ -z "$ns" ] || { APP=$c; return 0; }
    done
    "$BB" usleep 2000
  done
}

# The watcher: "a PID" names lxc-attach, "p PID" the exec'd process, "done" a normal end. EOF
# without "done" means the stand-in was killed: the exec'd process goes too.
watch() {
  a= APP=
  while read -r word pid; do
    case $word in done) exit 0 ;; a) a=$pid ;; p) APP=$pid ;; esac
  done
  [ -n "$a" ] || exit 0
  [ -n "$APP" ] || find_app "$a" || exit 0
  kill -KILL "$APP" 2>/dev/null
  exit 0
}

T=$("$BB" mktemp -d "$RUNDIR/exec.XXXXXX") || exit 255
# Both ends are opened here (the read-write open never blocks, so the read-only one does not either),
# then the name goes: nothing else can ever open the FIFO.
if "$BB" mkfifo -m 600 "$T/alive" && exec 4<>"$T/alive" 5<"$T/alive"; then "$BB" rm -rf "$T"; else "$BB" rm -rf "$T"; exit 255; fi
# exec redirections: on a function call busybox sh would keep copies of the old fds (the shim's pipes, fd 4).
( exec <&5 5<&- >/dev/null 2>&1 ${STANDIN_READY_FD}>&- 4>&-; watch ) &
W=$!
exec 5<&-

APP= Q= SIG=
fwd() {
  SIG=1
  if [ -n "$APP" ]; then kill -$1 "$APP" 2>/dev/null; else Q="$Q $1"; fi
}
for n in ${FORWARDED_SIGNALS.join(' ')}; do trap "fwd $n" $n; done

"$ENVBIN" --default-signal "$@" ${STANDIN_READY_FD}>&- 4>&- &
A=$!
echo "a $A" >&4
if find_app $A; then
  echo "p $APP" >&4
  for s in $Q; do kill -$s "$APP" 2>/dev/null; done
fi
Q=
echo ready >&${STANDIN_READY_FD}

# A wait cut short by a trapped signal is repeated; the one no trap interrupted gives lxc-attach's status.
while :; do SIG=; wait $A; st=$?; [ -n "$SIG" ] || break; done
APP=
echo done >&4
exec 4>&-
while :; do SIG=; wait $W; [ -n "$SIG" ] || break; done

# proxrun holds the other end of fd 3 (a socket pair) until it exits. Ending before that would
# make proxrun reap the status; afterwards the stand-in belongs to the shim or conmon.
while :; do SIG=; read -r _ <&${STANDIN_READY_FD} && continue; [ -n "$SIG" ] || break; done

if [ $st -gt 128 ]; then
  signal=$((st - 128))
  case " ${TERMINATING_SIGNALS.join(' ')} " in *" $signal "*)
    trap - $signal
    kill -$signal $$
    ;;
  esac
fi
exit $st
`;
}
