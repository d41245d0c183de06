/**
 * Renders `/init` of the shared initramfs: a busybox sh script, the same for
 * every VM (the per-VM part is /proxrun/spec.sh, see guest-spec.ts).
 *
 * Sequence: mount proc/sys/dev, load the virtio modules, find the three
 * virtio-console ports by name, mount the rootfs disk at /newroot (ro when
 * asked) with proc, sys, dev, dev/pts, dev/shm and tmp inside, set the
 * hostname, say `ready` on the control port and wait for `start` (the
 * create/start gate), then run the payload with its stdout and stderr relayed
 * to their own ports while a reader forwards `signal N` lines to it. When it
 * ends: kill what it left behind, wait for the relays, report
 * `exit STATUS OUTBYTES ERRBYTES`, wait for the host's `ack` (so that QEMU
 * exits only after every byte reached the host), sync and power off.
 *
 * Writes to a virtio-console port block while no host end is connected, and
 * the guest writes nothing on stdout/stderr before `start`, which the host
 * sends only once connected to all three ports: no output is lost with
 * chardevs in `server=on,wait=off` mode.
 */
import { GUEST_FAILURE_STATUS, PORT_NAMES } from './channel-protocol.js';

/** Where the initramfs keeps its modules (one `NAME.ko` each) and the load order file. */
export const INITRAMFS_MODULE_DIR = 'lib/modules/proxrun';
export const INITRAMFS_MODULE_ORDER_FILE = 'proxrun/modules';
export const INITRAMFS_SPEC_FILE = 'proxrun/spec.sh';

/** How long the guest waits for its disk and ports to appear, in 10 ms steps (5 s). */
const DEVICE_WAIT_STEPS = 500;
/** How long the guest waits for the host's `ack` after the exit line, in seconds. */
const ACK_WAIT_SECONDS = 30;

export function renderGuestInit(): string {
  return `#!/bin/sh
# proxrun guest init: generated, do not edit
export PATH=/bin
/bin/busybox --install -s /bin 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
control_open=0

say() { echo "proxrun-init: $*" >/dev/console; }

finish() { # STATUS OUTBYTES ERRBYTES
  if [ "$control_open" = 1 ]; then
    echo "exit $1 $2 $3" >&3
    while read -r -t ${ACK_WAIT_SECONDS} word _ <&3; do
      [ "$word" = ack ] && break
    done
  fi
  sync
  poweroff -f
  while :; do sleep 60; done # PID 1 must never return
}

die() {
  say "$*"
  [ "$control_open" = 1 ] && echo "error $*" >&3
  finish ${GUEST_FAILURE_STATUS} 0 0
}

port_device() { # NAME -> /dev/vportNpM
  for entry in /sys/class/virtio-ports/*; do
    [ -r "$entry/name" ] || continue
    [ "$(cat "$entry/name")" = "$1" ] && { echo "/dev/\${entry##*/}"; return 0; }
  done
  return 1
}

wait_for() { # TEST-WORDS...: polls until the test holds or the time is up
  step=0
  while ! "$@"; do
    step=$((step + 1))
    [ $step -gt ${DEVICE_WAIT_STEPS} ] && return 1
    usleep 10000
  done
}

. /${INITRAMFS_SPEC_FILE} || die "cannot read the spec"

for module in $(cat /${INITRAMFS_MODULE_ORDER_FILE}); do
  insmod /${INITRAMFS_MODULE_DIR}/$module.ko || die "insmod $module failed"
done

wait_for port_device ${PORT_NAMES.control} >/dev/null || die "no virtio port ${PORT_NAMES.control}"
control_port=$(port_device ${PORT_NAMES.control})
[ -c "$control_port" ] || die "port ${PORT_NAMES.control} has no device node"
exec 3<>"$control_port"
control_open=1
wait_for port_device ${PORT_NAMES.stdout} >/dev/null || die "no virtio port ${PORT_NAMES.stdout}"
wait_for port_device ${PORT_NAMES.stderr} >/dev/null || die "no virtio port ${PORT_NAMES.stderr}"
stdout_port=$(port_device ${PORT_NAMES.stdout})
stderr_port=$(port_device ${PORT_NAMES.stderr})

wait_for test -b "$root_device" || die "root disk $root_device did not appear"
mkdir -p /newroot
if [ "$root_readonly" = 1 ]; then root_options=ro; else root_options=rw; fi
mount -t ext4 -o "$root_options" "$root_device" /newroot || die "cannot mount $root_device"
inner_mount() { # TYPE TARGET OPTIONS
  [ -d "/newroot$2" ] || mkdir -p "/newroot$2" 2>/dev/null || { say "no $2 in the rootfs, not mounted"; return 0; }
  mount -t "$1" -o "$3" "$1" "/newroot$2" || die "cannot mount $1 on $2"
}
inner_mount proc /proc nosuid,nodev,noexec
inner_mount sysfs /sys nosuid,nodev,noexec,ro
inner_mount devtmpfs /dev nosuid,mode=0755
inner_mount devpts /dev/pts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620
inner_mount tmpfs /dev/shm nosuid,nodev,mode=1777
inner_mount tmpfs /tmp nosuid,nodev,mode=1777
proxrun_share() { # TAG DESTINATION ro|rw: a host directory over virtiofs
  [ -d "/newroot$2" ] || mkdir -p "/newroot$2" || die "no directory $2 for the virtiofs share $1"
  mount -t virtiofs -o "$3" "$1" "/newroot$2" || die "cannot mount the virtiofs share $1 on $2"
}
proxrun_mount_shares
if [ -n "$pids_limit" ]; then
  mount -t cgroup2 cgroup2 /sys/fs/cgroup || die "cannot mount cgroup2 for the pids limit"
  echo +pids >/sys/fs/cgroup/cgroup.subtree_control || die "no pids controller in the guest kernel"
  mkdir /sys/fs/cgroup/proxrun && echo "$pids_limit" >/sys/fs/cgroup/proxrun/pids.max || die "cannot set pids.max"
fi
[ -n "$payload_hostname" ] && hostname "$payload_hostname"

# The gate: nothing of the payload runs before the host says start.
echo ready >&3
while :; do
  if read -r word argument <&3; then
    case "$word" in
      start) break ;;
      signal) finish $((128 + argument)) 0 0 ;;
    esac
  else
    echo ready >&3 # the host went away: this blocks until it is back
  fi
done

mkdir -p /run/proxrun
mkfifo /run/proxrun/stdout /run/proxrun/stderr
# A relay per stream: tee copies into the port, wc counts what went through.
(tee "$stdout_port" </run/proxrun/stdout | wc -c >/run/proxrun/stdout.bytes) &
stdout_relay=$!
(tee "$stderr_port" </run/proxrun/stderr | wc -c >/run/proxrun/stderr.bytes) &
stderr_relay=$!

proxrun_exec_payload </dev/null >/run/proxrun/stdout 2>/run/proxrun/stderr &
payload=$!

(
  while :; do
    if read -r word argument <&3; then
      [ "$word" = signal ] && kill -"$argument" "$payload" 2>/dev/null
    else
      echo running >&3
    fi
  done
) &
signal_reader=$!

wait "$payload"
status=$?
kill "$signal_reader" 2>/dev/null
wait "$signal_reader" 2>/dev/null

# What the payload left running still holds the stream FIFOs open: end it.
round=0
while [ $round -lt 50 ]; do
  left=0
  for process in /proc/[0-9]*; do
    root=$(readlink "$process/root" 2>/dev/null) || continue
    case "$root" in /newroot|/newroot/*) kill -9 "\${process#/proc/}" 2>/dev/null && left=1 ;; esac
  done
  [ $left = 0 ] && break
  round=$((round + 1))
  usleep 20000
done

wait "$stdout_relay"
wait "$stderr_relay"
read -r stdout_bytes </run/proxrun/stdout.bytes
read -r stderr_bytes </run/proxrun/stderr.bytes
finish "$status" "\${stdout_bytes:-0}" "\${stderr_bytes:-0}"
`;
}
