/**
 * The differential probe: a busybox sh script a bundle runs as its process, printing what that
 * process sees of itself, one `key=value` per line: its /proc status (capability sets, seccomp
 * mode and filter count, no_new_privs, ids, groups), every rlimit, umask, hostname, working
 * directory, oom_score_adj, whether it may reopen its stdout and stderr, its exact environment and
 * argv (from /proc/$$/environ and cmdline),
 * and the outcome of each check named in its arguments (a syscall the profile may deny, run in a
 * child so that a kill ends only that child). The same probe runs under runc and under
 * proxmox-lxc; compare.ts compares the two reports field by field.
 *
 * To add a field: print it here with a new key; to add a check: a case in `check`.
 */

/** Checks the probe knows; each runs one busybox applet in a child process. */
export const PROBE_CHECKS = {
  /** mkdir(2) or mkdirat(2). */
  mkdir: '(exec /bin/mkdir /tmp/probe-d.$$) 2>&1; s=$?; rmdir /tmp/probe-d.$$ 2>/dev/null; exit $s',
  /** chmod(2) or fchmodat(2) of a file the process made, to mode 0600, 0700 or 0750 (argument conditions). */
  chmod: ': >/tmp/probe-c.$$ || exit 99; (exec /bin/chmod 600 /tmp/probe-c.$$) 2>&1; s=$?; rm -f /tmp/probe-c.$$; exit $s',
  chmod700: ': >/tmp/probe-g.$$ || exit 99; (exec /bin/chmod 700 /tmp/probe-g.$$) 2>&1; s=$?; rm -f /tmp/probe-g.$$; exit $s',
  chmod750: ': >/tmp/probe-h.$$ || exit 99; (exec /bin/chmod 750 /tmp/probe-h.$$) 2>&1; s=$?; rm -f /tmp/probe-h.$$; exit $s',
  /** symlink(2) or symlinkat(2). */
  symlink: '(exec /bin/ln -s target /tmp/probe-l.$$) 2>&1; s=$?; rm -f /tmp/probe-l.$$; exit $s',
  /** link(2) or linkat(2) of a file the process made. */
  hardlink: ': >/tmp/probe-k.$$ || exit 99; (exec /bin/ln /tmp/probe-k.$$ /tmp/probe-m.$$) 2>&1; s=$?; rm -f /tmp/probe-k.$$ /tmp/probe-m.$$; exit $s',
  /** rename(2), renameat(2) or renameat2(2) of a file the process made. */
  rename: ': >/tmp/probe-r.$$ || exit 99; (exec /bin/mv /tmp/probe-r.$$ /tmp/probe-s.$$) 2>&1; s=$?; rm -f /tmp/probe-r.$$ /tmp/probe-s.$$; exit $s',
  /** unlink(2) or unlinkat(2) of a file the process made. */
  unlink: ': >/tmp/probe-u.$$ || exit 99; (exec /bin/rm /tmp/probe-u.$$) 2>&1',
  /** kill(2) with signal 0 on the process itself. */
  kill0: '(exec /bin/kill -0 $$) 2>&1',
} as const;

export type ProbeCheck = keyof typeof PROBE_CHECKS;

const STATUS_FIELDS = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'Seccomp', 'Seccomp_filters', 'NoNewPrivs', 'Uid', 'Gid', 'Groups'];

/** The probe script (argv[2] of `/bin/sh -c SCRIPT probe CHECK...`). */
export const PROBE_SCRIPT = [
  'p() { printf \'%s=%s\\n\' "$1" "$2"; }',
  'while IFS=: read -r k v; do',
  `  case $k in ${STATUS_FIELDS.join('|')}) p "status.$k" "$(echo $v)" ;; esac`,
  'done </proc/$$/status',
  // /proc/PID/limits: the name is the first 26 columns, then soft and hard.
  'awk \'NR > 1 { n = substr($0, 1, 26); sub(/ +$/, "", n); gsub(/ /, "_", n); split(substr($0, 27), f, " +"); print "limit." n "=" f[1] " " f[2] }\' /proc/$$/limits',
  'p umask "$(umask)"',
  'p hostname "$(cat /proc/sys/kernel/hostname)"',
  'p cwd "$(readlink /proc/$$/cwd)"',
  'p oom_score_adj "$(cat /proc/$$/oom_score_adj)"',
  // Whether the process may open its own stdout and stderr again (runc hands them to its user).
  'for fd in 1 2; do if (: >>/proc/$$/fd/$fd) 2>/dev/null; then p "reopen.fd$fd" ok; else p "reopen.fd$fd" denied; fi; done',
  // A process that gained capabilities at execve is not dumpable: its environ is then unreadable even
  // to itself, and the shell's exported variables stand in (the same on every runtime).
  'if [ -r /proc/$$/environ ] && cat /proc/$$/environ >/dev/null 2>&1; then',
  '  tr \'\\0\' \'\\n\' </proc/$$/environ | while IFS= read -r e; do p env "$e"; done',
  'else',
  '  p env "(environ not readable: the exported variables follow)"; env | sort | while IFS= read -r e; do p env "$e"; done',
  'fi',
  'tr \'\\0\' \'\\n\' </proc/$$/cmdline | while IFS= read -r a; do p argv "$a"; done',
  'check() {',
  '  out=$(/bin/sh -c "$2" 2>&1); st=$?',
  '  if [ $st -gt 128 ]; then p "check.$1" "signal $((st - 128))";',
  '  elif [ $st -eq 0 ]; then p "check.$1" ok;',
  '  else p "check.$1" "${out##*: }"; fi',
  '}',
  ...Object.entries(PROBE_CHECKS).map(([name, code]) => `want_${name}='${code.replace(/'/g, "'\\''")}'`),
  'for c in "$@"; do eval "code=\\$want_$c"; check "$c" "$code"; done',
  'p done yes',
].join('\n');

/** process.args that run the probe with these checks. */
export function probeArgs(checks: readonly ProbeCheck[] = []): string[] {
  return ['/bin/sh', '-c', PROBE_SCRIPT, 'probe', ...checks];
}

/** A probe's report: each key's values in order (env and argv have one per entry). */
export type ProbeReport = ReadonlyMap<string, readonly string[]>;

/** Parses probe output; throws when the probe did not reach its end. */
export function parseProbe(stdout: string): ProbeReport {
  const report = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`probe output line without a key: ${JSON.stringify(line)}`);
    const key = line.slice(0, eq);
    const list = report.get(key) ?? [];
    list.push(line.slice(eq + 1));
    report.set(key, list);
  }
  if (report.get('done')?.[0] !== 'yes') throw new Error(`the probe did not finish:\n${stdout}`);
  return report;
}
