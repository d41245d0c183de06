/**
 * The host-side monitor, a busybox `sh` script. One runs per container; its
 * pid is the one in --pid-file. It is written into the private part of the
 * monitor folder and run as `BUSYBOX sh monitor.sh DIR NAME LXCPATH BUSYBOX LXC_INFO`.
 *
 * What it does:
 *  - closes every fd it inherited besides 0, 1 and 2;
 *  - relays the stdout FIFO to its fd 1, the stderr FIFO to its fd 2, and
 *    (when the stdin FIFO exists) its fd 0 to the stdin FIFO, each with a `cat`;
 *  - waits for the init's first line on the status FIFO, `gate`: the init then
 *    waits at its start gate with its traps set, and only then is the monitor
 *    ready (a start or a signal any earlier could miss the init);
 *  - reads the rest of the status FIFO with a `cat`, and `wait`s for it; the wait is
 *    interrupted by every trapped signal, which it sends on to the container's
 *    init, which forwards it to the app (or, before start, ends with it);
 *  - when the status arrives (or the init dies without one: SIGKILL), drains
 *    the output relays to EOF, writes the status file, and exits with the
 *    status, re-raising the signal on itself when the app died of one.
 */
import { FORWARDED_SIGNALS, TERMINATING_SIGNALS } from './signals.js';

export function renderMonitorScript(): string {
  const forwarded = FORWARDED_SIGNALS.join(' ');
  const terminating = ` ${TERMINATING_SIGNALS.join(' ')} `;
  return `# proxrun container monitor: generated, do not edit
D=$1 NAME=$2 LXCPATH=$3 BB=$4 LXCINFO=$5
S=$D/shared
ulimit -c 0

# Keep only 0, 1, 2 and what busybox opened for itself (close-on-exec).
for f in /proc/$$/fd/*; do
  n=\${f##*/}
  [ "$n" -gt 2 ] 2>/dev/null || continue
  flags=
  while read -r key value; do [ "$key" = flags: ] && flags=$value; done 2>/dev/null </proc/$$/fdinfo/$n
  [ -n "$flags" ] || continue
  [ $(( 0$flags & 02000000 )) -ne 0 ] || eval "exec $n>&-"
done

INIT=$("$LXCINFO" -n "$NAME" -P "$LXCPATH" -p -H 2>/dev/null)
case $INIT in ''|*[!0-9]*) echo "proxrun monitor: container $NAME is not running" >&2; exit 255 ;; esac

exec 3<&0
"$BB" cat "$S/stdout" <&- 3<&- &
OUT=$!
"$BB" cat "$S/stderr" >&2 <&- 3<&- &
ERR=$!
IN=
if [ -p "$S/stdin" ]; then
  "$BB" cat <&3 3<&- >"$S/stdin" &
  IN=$!
fi
exec 3<&-

# The init's first line: \`gate\` once it waits for the start order with its traps set. Anything
# else is its status from before the gate, and nothing with the init gone means it was killed
# there: the monitor is then never ready. Opened read-write, so that the open never blocks (an
# init killed early never opens it); while no line has come, the init's life is checked each second.
exec 5<>"$S/status"
gate=
until read -t 1 -r gate <&5; do
  kill -0 $INIT 2>/dev/null || break
done
# The rest goes to status.raw, through a read-only fd: the cat sees EOF when the init has ended.
exec 6<"$S/status"
exec 5<&-
"$BB" cat <&6 6<&- >"$D/status.raw" &
ST=$!
exec 6<&-
early=
if [ "$gate" != gate ]; then
  early=\${gate:-137}
  echo "proxrun monitor: the container's init ended before its start gate (status $early)" >&2
fi

# The init traps every catchable signal: before the start order it ends the
# container with 128+N, afterwards it forwards the signal to the app.
forward() {
  kill -$1 $INIT 2>/dev/null
}

for n in ${forwarded}; do trap "forward $n" $n; done

# Wait for process $1, resuming after each forwarded signal.
await() {
  while kill -0 $1 2>/dev/null; do wait $1; done
}

[ -n "$early" ] || echo $$ >"$D/monitor.ready"

await $ST
status=$early
[ -n "$status" ] || read -r status 2>/dev/null <"$D/status.raw"
# No status means the init ended without reporting: only SIGKILL ends a PID 1 that way.
case $status in ''|*[!0-9]*) status=137 ;; esac

# A relay still blocked opening its FIFO (the app never started) needs a writer to see EOF.
for fifo in "$S/stdout" "$S/stderr"; do exec 4<>"$fifo"; exec 4>&-; done
await $OUT
await $ERR
[ -z "$IN" ] || kill $IN 2>/dev/null

echo $status >"$D/exit-status.tmp" && "$BB" mv -f "$D/exit-status.tmp" "$D/exit-status"

if [ $status -gt 128 ]; then
  signal=$((status - 128))
  case "${terminating}" in *" $signal "*)
    trap - $signal
    kill -$signal $$
    ;;
  esac
fi
exit $status
`;
}
