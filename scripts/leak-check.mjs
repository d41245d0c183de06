// What one test run left behind, and removing it. scripts/run-tests.mjs gives every run an id and a
// folder of its own: the tests' environment carries PROXRUN_TEST_RUN=<id> (every process they start
// inherits it), TMPDIR=<folder> (every temp dir, simulator root, containerd and podman folder is made
// in it) and PROXRUN_TEST_LEDGER=<folder>/ledger (where scripts/pve-sim notes the network namespace
// it makes, before making it). So a leftover is found by what marks it as this run's, never by a
// name another user's process could share: a live process with this run's id in its environment or
// this run's folder in its command line (simulator daemon, containerd and its shims, QEMU, LXC
// containers' lxc-start, podman's conmon, a container monitor...), a mount or loop device under the
// folder, a network namespace in the ledger that still exists.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** `{ pid, argv, env }` of a live (not zombie) process, or undefined when it is gone or unreadable. */
function readProcess(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return undefined;
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return { pid, argv, env };
  } catch {
    return undefined;
  }
}

/** What a leftover process is, from its command line. */
function processKind(argv) {
  const joined = argv.join(' ');
  const base = path.basename(argv[0] ?? '');
  if (/pve-sim\/daemon\.mjs/.test(joined)) return 'simulator daemon';
  if (base.startsWith('containerd-shim')) return 'containerd shim';
  if (base === 'containerd') return 'containerd';
  if (base.startsWith('qemu-system')) return 'QEMU';
  if (base === 'lxc-start' || /^\[?lxc monitor\]?/.test(joined)) return 'LXC container';
  if (base === 'lxc-monitord') return 'lxc-monitord';
  if (base.includes('virtiofsd')) return 'virtiofsd';
  if (base === 'conmon') return 'conmon';
  if (base === 'podman') return 'podman';
  return 'process';
}

function mountPoints() {
  const unescape = (field) => field.replace(/\\([0-7]{3})/g, (_m, octal) => String.fromCharCode(parseInt(octal, 8)));
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((line) => line.split(' ')[4]).filter((f) => f !== undefined).map(unescape);
}

function within(file, dir) {
  return file === dir || file.startsWith(`${dir}/`);
}

/**
 * Everything of run `runId` (folder `runDir`) still there: a list of `{ kind, what, pid?, root?,
 * mount?, loop?, netns? }`, empty when nothing is left. `ignorePids` are never reported (the caller).
 */
export function findLeaks({ runId, runDir, ledgerFile, ignorePids = [process.pid] }) {
  const leaks = [];
  const tag = `PROXRUN_TEST_RUN=${runId}`;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (ignorePids.includes(pid)) continue;
    const proc = readProcess(pid);
    if (proc === undefined) continue;
    const tagged = proc.env.includes(tag);
    const names = proc.argv.some((arg) => arg.includes(runDir));
    if (!tagged && !names) continue;
    const kind = processKind(proc.argv);
    const leak = { kind, pid, what: `${kind} pid ${pid}: ${proc.argv.join(' ').slice(0, 200)}` };
    if (kind === 'LXC container') {
      // lxc-start -P PATH -n NAME, or once running its monitor's title "[lxc monitor] PATH NAME".
      const title = /^\[lxc monitor\] (\S+) (\S+)/.exec(proc.argv.join(' '));
      const option = (flag) => proc.argv[proc.argv.indexOf(flag) + 1];
      const lxcPath = title?.[1] ?? (proc.argv.includes('-P') ? option('-P') : undefined);
      const name = title?.[2] ?? (proc.argv.includes('-n') ? option('-n') : undefined);
      if (lxcPath !== undefined && name !== undefined) leak.container = { lxcPath, name };
    }
    if (kind === 'simulator daemon') {
      const root = proc.argv[proc.argv.findIndex((a) => /pve-sim\/daemon\.mjs$/.test(a)) + 1];
      if (root !== undefined) leak.root = root;
    }
    leaks.push(leak);
  }
  for (const point of [...new Set(mountPoints())].filter((p) => within(p, runDir)).sort((a, b) => b.length - a.length)) {
    leaks.push({ kind: 'mount', mount: point, what: `mount on ${point}` });
  }
  let loops = [];
  try {
    loops = fs.readdirSync('/sys/block').filter((n) => /^loop\d+$/.test(n));
  } catch {
    loops = [];
  }
  for (const loop of loops) {
    let backing = '';
    try {
      backing = fs.readFileSync(`/sys/block/${loop}/loop/backing_file`, 'utf8').trim();
    } catch {
      continue; // not attached
    }
    if (within(backing.replace(/ \(deleted\)$/, ''), runDir)) leaks.push({ kind: 'loop device', loop: `/dev/${loop}`, what: `loop device /dev/${loop} on ${backing}` });
  }
  const ledger = fs.existsSync(ledgerFile) ? fs.readFileSync(ledgerFile, 'utf8').split('\n') : [];
  for (const line of new Set(ledger)) {
    const m = /^netns (\S+)$/.exec(line);
    if (m && fs.existsSync(path.join('/run/netns', m[1]))) leaks.push({ kind: 'network namespace', netns: m[1], what: `network namespace ${m[1]}` });
  }
  return leaks;
}

function alive(pid) {
  return readProcess(pid) !== undefined;
}

function waitGone(pids, ms) {
  const deadline = Date.now() + ms;
  while (pids.some(alive) && Date.now() < deadline) spawnSync('sleep', ['0.1']);
  return pids.filter(alive);
}

/**
 * Removes what `findLeaks` found: simulators through `scripts/pve-sim stop` (which stops their
 * containers, VMs and namespace), then the other processes (SIGTERM, SIGKILL after 5 s), mounts
 * (lazily, deepest first), loop devices and network namespaces. Best effort: the caller looks again.
 */
export function cleanLeaks(leaks, { repoRoot }) {
  for (const leak of leaks.filter((l) => l.root !== undefined)) {
    spawnSync(path.join(repoRoot, 'scripts/pve-sim'), ['stop', '--root', leak.root], { stdio: 'ignore', timeout: 90_000 });
  }
  for (const leak of leaks.filter((l) => l.container !== undefined && alive(l.pid))) {
    spawnSync('lxc-stop', ['-P', leak.container.lxcPath, '-n', leak.container.name, '--kill'], { stdio: 'ignore', timeout: 30_000 });
  }
  const pids = leaks.filter((l) => l.pid !== undefined && alive(l.pid)).map((l) => l.pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  for (const pid of waitGone(pids, 5_000)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  waitGone(pids, 5_000);
  for (const leak of leaks.filter((l) => l.mount !== undefined)) spawnSync('umount', ['-l', leak.mount], { stdio: 'ignore' });
  for (const leak of leaks.filter((l) => l.loop !== undefined)) spawnSync('losetup', ['-d', leak.loop], { stdio: 'ignore' });
  for (const leak of leaks.filter((l) => l.netns !== undefined)) {
    try {
      execFileSync('ip', ['netns', 'delete', leak.netns], { stdio: 'ignore' });
    } catch {
      /* reported again by the caller's second look */
    }
  }
}

/** Removes the run's folder, unless something is still mounted under it (rm would reach through it). */
export function removeRunDir(runDir) {
  if (mountPoints().some((p) => within(p, runDir))) return false;
  fs.rmSync(runDir, { recursive: true, force: true });
  return true;
}
