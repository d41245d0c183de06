/**
 * The per-container monitor on real LXC 5.0.2, privileged and unprivileged.
 * The container is started the way Proxmox starts it (`lxc-start -F` in its
 * own session, stdout discarded); a Perl subreaper stands in for
 * containerd's shim: it runs a Node process that calls spawnMonitor and
 * exits, then reaps the monitor from the pid file and reports 128+N for
 * signals, as the shim does. Needs root, lxc, busybox-static and perl.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmod, lchown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile, access } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { makeBusyboxRootfs } from '../helpers/busybox-rootfs.js';
import { ensureSubids, requireCommands, requireRoot } from '../helpers/host-setup.js';
import { killProcessesMentioning, removeDir } from '../helpers/cleanup.js';
import {
  formatLxcConfig,
  lxcConfigEntries,
  prepareMonitorDir,
  PROXMOX_DEFAULT_ID_MAP,
  readExitStatus,
  releaseStart,
  type LaunchSpec,
  type MonitoredProcess,
} from '../../src/monitor/index.js';

/** The launcher's input for a plain process: its user, cwd, env and args, no capabilities, no seccomp. */
function launchOf(p: MonitoredProcess): LaunchSpec {
  const none: number[] = [];
  return {
    failStatus: { notFound: 127, other: 126 },
    uid: p.user?.uid ?? 0,
    gid: p.user?.gid ?? 0,
    additionalGids: p.user?.additionalGids ?? [],
    umask: 0o022,
    capabilities: { bounding: none, effective: none, inheritable: none, permitted: none, ambient: none },
    noNewPrivileges: false,
    cwd: p.cwd,
    env: p.env ?? [],
    args: p.args ?? [],
  };
}

const MONITOR_INDEX = resolve(import.meta.dirname, '../../src/monitor/index.ts');
const DEADLINE_MS = 20_000;

const SHIM = String.raw`
use strict;
my ($pidfile, $statusfile, @launcher) = @ARGV;
syscall(157, 36, 1, 0, 0, 0) == 0 or die "prctl(PR_SET_CHILD_SUBREAPER): $!";
$^F = 10;
open(my $extra, '>', "$statusfile.extra-fd") or die "extra fd: $!";
die "extra fd is not 7+" if fileno($extra) < 3;
my $launcher = fork();
if ($launcher == 0) { exec(@launcher) or die "exec: $!"; }
waitpid($launcher, 0);
if ($? != 0) { print STDERR "launcher failed: $?\n"; exit 250; }
close($extra);
open(my $fh, '<', $pidfile) or die "pid file: $!";
my $monitor = <$fh>; chomp $monitor; close($fh);
while (1) {
  my $pid = waitpid(-1, 0);
  die "monitor $monitor was never reaped" if $pid <= 0;
  next if $pid != $monitor;
  my $status = ($? & 127) ? 128 + ($? & 127) : ($? >> 8);
  open(my $out, '>', $statusfile) or die; print $out "$status\n"; close($out);
  exit $status;
}
`;

interface Harness {
  readonly base: string;
  readonly lxcPath: string;
}

interface Scenario {
  readonly privileged: boolean;
  readonly process: MonitoredProcess;
  readonly stdin?: string;
  /** Release the start gate (default true). */
  readonly start?: boolean;
  /** Runs after create (app gated), before releaseStart. */
  readonly beforeStart?: (c: RunningContainer) => Promise<void>;
  /** Runs after releaseStart, while the shim waits. */
  readonly afterStart?: (c: RunningContainer) => Promise<void>;
  /**
   * Holds the CT's init (SIGSTOP) from before the monitor is spawned until the monitor either
   * reported ready or waits for the init, then lets it go (SIGCONT): the init has then not reached
   * its start gate while the monitor starts, as on a busy node. `kill` ends the held init with
   * SIGKILL instead: it never reaches the gate.
   */
  readonly holdInit?: true | 'kill';
}

interface RunningContainer {
  readonly name: string;
  readonly rootfs: string;
  readonly dir: string;
  readonly monitorPid: number;
  readonly initPid: number;
  readonly stdout: () => string;
}

interface Outcome {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number;
  readonly recorded: number | undefined;
  readonly name: string;
  readonly dir: string;
  readonly monitorPid: number;
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = DEADLINE_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `promise`, or a failure naming `what` after `ms`: a hang fails the test and its clean-up runs. */
async function within<T>(what: string, promise: Promise<T>, ms = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

function lxcState(name: string, lxcPath: string): string {
  try {
    return execFileSync('lxc-info', ['-n', name, '-P', lxcPath, '-s', '-H'], { encoding: 'utf8' }).trim();
  } catch {
    return 'UNKNOWN';
  }
}

function initPidOf(name: string, lxcPath: string): number | undefined {
  try {
    const text = execFileSync('lxc-info', ['-n', name, '-P', lxcPath, '-p', '-H'], { encoding: 'utf8' }).trim();
    const pid = Number.parseInt(text, 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The one-letter state of a process (R, S, T, Z, ...), or undefined when it is gone. */
async function procState(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/**
 * The monitor's own process (the session leader running `monitor.sh` of `dir`), found before it
 * writes its pid anywhere.
 */
async function monitorProcessOf(dir: string): Promise<number | undefined> {
  const script = join(dir, 'monitor.sh');
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (!(await cmdline(pid)).includes(script)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]) === pid) return pid;
    } catch {
      // ended while scanning
    }
  }
  return undefined;
}

/** Whether process `pid` has `file` open. */
async function holds(pid: number, file: string): Promise<boolean> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === file) return true;
  }
  return false;
}

async function childrenOf(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.trim() === '' ? [] : text.trim().split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

async function cmdline(pid: number): Promise<string[]> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((s) => s !== '');
  } catch {
    return [];
  }
}

/** Shifts the owner of every file under `dir` into the container's host id range. */
async function shiftOwnership(dir: string, by: number): Promise<void> {
  const info = await lstat(dir);
  await lchown(dir, info.uid + by, info.gid + by);
  if (!info.isDirectory()) return;
  for (const entry of await readdir(dir)) await shiftOwnership(join(dir, entry), by);
}

/** Pids of processes whose session is `sid`. */
async function sessionMembers(sid: number): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[3]) === sid) found.push(Number(entry));
    } catch {
      // process ended while scanning
    }
  }
  return found;
}

/** Pids holding any file under `dir` open. */
async function holdersOf(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = await readdir(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if ((await readlink(`/proc/${entry}/fd/${fd}`)).startsWith(dir)) found.push(Number(entry));
      } catch {
        // fd closed while scanning
      }
    }
  }
  return found;
}

async function vmRssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match?.[1] === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]);
}

async function pssKiB(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const match = /^Pss:\s+(\d+) kB$/m.exec(rollup);
  if (match?.[1] === undefined) throw new Error(`no Pss for ${pid}`);
  return Number(match[1]);
}

async function parentOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

async function treeRssKiB(root: number): Promise<{ total: number; pids: number[] }> {
  const pids = [root];
  for (let i = 0; i < pids.length; i++) pids.push(...(await childrenOf(pids[i] ?? 0)));
  let total = 0;
  for (const pid of pids) total += await vmRssKiB(pid);
  return { total, pids };
}

async function runScenario(h: Harness, scenario: Scenario): Promise<Outcome> {
  const name = `prx-mon-${randomBytes(4).toString('hex')}`;
  const work = join(h.base, name);
  const rootfs = join(work, 'rootfs');
  const dir = join(work, 'monitor');
  const ctDir = join(h.lxcPath, name);
  await mkdir(ctDir, { recursive: true, mode: 0o755 });
  await mkdir(work, { recursive: true, mode: 0o755 });
  await makeBusyboxRootfs(rootfs);
  if (!scenario.privileged) await shiftOwnership(rootfs, PROXMOX_DEFAULT_ID_MAP.hostUidBase);
  await prepareMonitorDir(dir, launchOf(scenario.process), {
    idMap: scenario.privileged ? undefined : PROXMOX_DEFAULT_ID_MAP,
    stdin: scenario.stdin !== undefined,
  });
  const config = [
    `lxc.uts.name = ${name}`,
    `lxc.rootfs.path = dir:${rootfs}`,
    'lxc.include = /usr/share/lxc/config/common.conf',
    ...(scenario.privileged
      ? []
      : ['lxc.include = /usr/share/lxc/config/userns.conf', 'lxc.idmap = u 0 100000 65536', 'lxc.idmap = g 0 100000 65536']),
    'lxc.apparmor.profile = unconfined',
    'lxc.net.0.type = empty',
    'lxc.tty.max = 0',
    '',
  ].join('\n');
  await writeFile(join(ctDir, 'config'), config + formatLxcConfig(lxcConfigEntries(dir)));

  const lxcErr = openSync(join(work, 'lxc-start.stderr'), 'w');
  const lxcStart: ChildProcess = spawn('lxc-start', ['-F', '-n', name, '-P', h.lxcPath], {
    detached: true,
    stdio: ['ignore', 'ignore', lxcErr],
  });
  closeSync(lxcErr);
  const lxcStartExit = new Promise<void>((r) => lxcStart.once('exit', () => r()));
  let shim: ChildProcess | undefined;
  let monitorPid = 0;
  let held: number | undefined;
  try {
    await until(`${name} RUNNING`, async () => {
      const state = lxcState(name, h.lxcPath);
      if (state === 'STOPPED' && lxcStart.exitCode !== null) {
        throw new Error(`lxc-start failed: ${await readFile(join(work, 'lxc-start.stderr'), 'utf8')}`);
      }
      return state === 'RUNNING' ? true : undefined;
    });
    const initPid = await until('init pid', () => initPidOf(name, h.lxcPath));
    if (scenario.holdInit !== undefined) {
      process.kill(initPid, 'SIGSTOP');
      held = initPid;
      await until('the init to stop', async () => ((await procState(initPid)) === 'T' ? true : undefined));
    }

    const pidFile = join(work, 'monitor.pid');
    const statusFile = join(work, 'shim.status');
    const launch = [
      `import { spawnMonitor } from ${JSON.stringify(MONITOR_INDEX)};`,
      `import { writeFileSync } from 'node:fs';`,
      `const pid = await spawnMonitor(${JSON.stringify({ dir, name, lxcPath: h.lxcPath })});`,
      `writeFileSync(${JSON.stringify(pidFile)}, String(pid));`,
    ].join('\n');
    shim = spawn('perl', ['-e', SHIM, pidFile, statusFile, process.execPath, '--import', 'tsx', '--input-type=module', '-e', launch], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    shim.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
    shim.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const shimExit = new Promise<number>((r) => shim?.once('exit', (code, signal) => r(code ?? 128 + (signal === null ? 0 : 1))));
    if (scenario.stdin !== undefined) shim.stdin?.end(scenario.stdin);

    const readPidFile = async (): Promise<number | undefined> => {
      if (shim?.exitCode !== null) throw new Error(`shim ended early: ${stderr}`);
      try {
        const pid = Number.parseInt(await readFile(pidFile, 'utf8'), 10);
        return Number.isInteger(pid) ? pid : undefined;
      } catch {
        return undefined;
      }
    };
    if (held !== undefined) {
      // The init is stopped before its gate. Either the monitor says ready anyway (then start has
      // to find the init at its gate right now, as an engine's start right after create would),
      // or the monitor itself waits for the init's word on the status FIFO; then the init is let go.
      let monitor: number | undefined;
      const seen = await until('the monitor to be ready or to wait for the init', async () => {
        if ((await readPidFile()) !== undefined) return 'ready';
        monitor = await monitorProcessOf(dir);
        return monitor !== undefined && (await holds(monitor, join(dir, 'shared', 'status'))) ? 'waiting' : undefined;
      });
      if (seen === 'ready') {
        assert.equal(await procState(held), 'T', 'the init is still held');
        await releaseStart(dir);
      }
      if (scenario.holdInit === 'kill') {
        // The init never reaches its gate: create must fail, and leave nothing behind.
        process.kill(held, 'SIGKILL');
        held = undefined;
        const status = await shimExit;
        await until('STOPPED', () => (lxcState(name, h.lxcPath) === 'STOPPED' ? true : undefined));
        await lxcStartExit;
        // The monitor and its relays end by themselves; their reapers may take a moment.
        await until('the monitor session to be empty', async () => ((await sessionMembers(monitor ?? 0)).length === 0 ? true : undefined));
        assert.deepEqual(await holdersOf(dir), [], 'no process holds a monitor FIFO');
        await assert.rejects(releaseStart(dir), /not waiting to start/);
        return { stdout, stderr, status, recorded: await readExitStatus(dir), name, dir, monitorPid: monitor ?? 0 };
      }
      process.kill(held, 'SIGCONT');
      held = undefined;
    }
    monitorPid = await until('pid file', readPidFile);
    const running: RunningContainer = { name, rootfs, dir, monitorPid, initPid, stdout: () => stdout };

    // The app has not run: the init has no child and is still our gated script.
    assert.deepEqual(await childrenOf(initPid), [], 'no app process before start');
    assert.deepEqual((await cmdline(initPid)).slice(1), ['sh', '/.proxrun/init']);
    assert.equal(lxcState(name, h.lxcPath), 'RUNNING');
    await scenario.beforeStart?.(running);

    if (scenario.start !== false) {
      await releaseStart(dir);
      await scenario.afterStart?.(running);
    }
    const status = await within('the shim (so the monitor) to exit', shimExit);
    const shimStatus = Number((await readFile(statusFile, 'utf8')).trim());
    assert.equal(shimStatus, status, `shim status file agrees (stderr: ${stderr})`);
    const recorded = await readExitStatus(dir);

    // Nothing left: container stopped, lxc-start gone, no monitor process, no FIFO holder, no mount.
    await until('STOPPED', () => (lxcState(name, h.lxcPath) === 'STOPPED' ? true : undefined));
    await within('lxc-start to exit', lxcStartExit);
    assert.deepEqual(await sessionMembers(monitorPid), [], 'no process left in the monitor session');
    assert.deepEqual(await holdersOf(dir), [], 'no process holds a monitor FIFO');
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    assert.equal(mounts.includes(work), false, 'no mount left under the container folder');
    await assert.rejects(releaseStart(dir), /not waiting to start/);
    return { stdout, stderr, status, recorded, name, dir, monitorPid };
  } finally {
    if (held !== undefined) process.kill(held, 'SIGCONT');
    if (shim !== undefined && shim.exitCode === null && shim.signalCode === null) shim.kill('SIGKILL');
    if (monitorPid > 0) {
      for (const pid of await sessionMembers(monitorPid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    if (lxcState(name, h.lxcPath) !== 'STOPPED') {
      try {
        execFileSync('lxc-stop', ['-k', '-n', name, '-P', h.lxcPath], { stdio: 'ignore' });
      } catch {
        // reported by the assertions above
      }
    }
    if (lxcStart.exitCode === null && lxcStart.signalCode === null) {
      await within('lxc-start to exit after lxc-stop -k', lxcStartExit, 30_000).catch(() => {
        if (lxcStart.pid !== undefined) process.kill(lxcStart.pid, 'SIGKILL');
      });
    }
    await rm(ctDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The app's host pid: the init's descendant that runs `program` itself (argv[0]), not one of the
 * shells between them (the init's holder and its short-lived setsid steps carry the program's name
 * among their arguments).
 */
async function appPid(c: RunningContainer, program: string): Promise<number> {
  const descendants = async (pid: number): Promise<number[]> => {
    const found: number[] = [];
    for (const child of await childrenOf(pid)) found.push(child, ...(await descendants(child)));
    return found;
  };
  return until(`app ${program}`, async () => {
    for (const pid of await descendants(c.initPid)) {
      const argv = await cmdline(pid).catch(() => []);
      if ((argv[0] ?? '').endsWith(program)) return pid;
    }
    return undefined;
  });
}

const h: { value?: Harness } = {};

before(async () => {
  requireRoot('monitor LXC tests');
  await requireCommands(['lxc-start', 'lxc-info', 'lxc-stop', 'perl', '/bin/busybox']);
  await ensureSubids();
  const base = await mkdtemp(join(tmpdir(), 'prx-mon-test-'));
  await chmod(base, 0o755);
  const lxcPath = join(base, 'lxc');
  await mkdir(lxcPath, { mode: 0o755 });
  h.value = { base, lxcPath };
});

after(async () => {
  if (h.value === undefined) return;
  // A test that failed before its own clean-up leaves nothing either: stop every container of this
  // file, end every process still naming its folder (shims, monitors), then remove the folder.
  for (const name of await readdir(h.value.lxcPath).catch(() => [] as string[])) {
    if (lxcState(name, h.value.lxcPath) !== 'STOPPED') {
      try {
        execFileSync('lxc-stop', ['-k', '-n', name, '-P', h.value.lxcPath], { stdio: 'ignore', timeout: 30_000 });
      } catch {
        // the leftover check at the end of the run names it
      }
    }
  }
  await killProcessesMentioning(h.value.base);
  await removeDir(h.value.base);
});

function harness(): Harness {
  if (h.value === undefined) throw new Error('harness not set up');
  return h.value;
}

const ROOT = { uid: 0, gid: 0 };

for (const privileged of [false, true]) {
  describe(privileged ? 'privileged container' : 'unprivileged container', () => {
    test('gates the app, relays stdout and stderr separately, exits with its status', async () => {
      const outcome = await runScenario(harness(), {
        privileged,
        process: { args: ['/bin/sh', '-c', 'touch /tmp/ran; echo out; echo err >&2; exit 3'], env: ['PATH=/bin'], cwd: '/', user: ROOT },
        beforeStart: async (c) => {
          await assert.rejects(access(join(c.rootfs, 'tmp/ran')), 'the app must not have run before start');
        },
      });
      assert.equal(outcome.stdout, 'out\n');
      assert.equal(outcome.stderr, 'err\n');
      assert.equal(outcome.status, 3);
      assert.equal(outcome.recorded, 3);
    });

    test('SIGTERM to the monitor ends a sleeping app: 143', async () => {
      const outcome = await runScenario(harness(), {
        privileged,
        process: { args: ['sleep', '1000'], env: ['PATH=/bin'], cwd: '/', user: ROOT },
        afterStart: async (c) => {
          await appPid(c, 'sleep');
          process.kill(c.monitorPid, 'SIGTERM');
        },
      });
      assert.equal(outcome.status, 143);
      assert.equal(outcome.recorded, 143);
    });

    test('SIGTERM before start ends the created container: 143, the app never ran', async () => {
      const outcome = await runScenario(harness(), {
        privileged,
        start: false,
        process: { args: ['/bin/sh', '-c', 'echo ran'], env: ['PATH=/bin'], cwd: '/', user: ROOT },
        beforeStart: async (c) => {
          process.kill(c.monitorPid, 'SIGTERM');
        },
      });
      assert.equal(outcome.status, 143);
      assert.equal(outcome.recorded, 143);
      assert.equal(outcome.stdout, '', 'the app never ran');
    });

    test('SIGKILL to the app: 137', async () => {
      const outcome = await runScenario(harness(), {
        privileged,
        process: { args: ['sleep', '1000'], env: ['PATH=/bin'], cwd: '/', user: ROOT },
        afterStart: async (c) => {
          process.kill(await appPid(c, 'sleep'), 'SIGKILL');
        },
      });
      assert.equal(outcome.status, 137);
      assert.equal(outcome.recorded, 137);
    });

    test('an app that traps SIGTERM exits 0', async () => {
      const outcome = await runScenario(harness(), {
        privileged,
        process: {
          args: ['/bin/sh', '-c', 'trap "echo caught; exit 0" TERM; echo ready; sleep 1000 & wait'],
          env: ['PATH=/bin'],
          cwd: '/',
          user: ROOT,
        },
        afterStart: async (c) => {
          await until('ready line', () => (c.stdout().includes('ready\n') ? true : undefined));
          process.kill(c.monitorPid, 'SIGTERM');
        },
      });
      assert.equal(outcome.stdout, 'ready\ncaught\n');
      assert.equal(outcome.status, 0);
      assert.equal(outcome.recorded, 0);
    });

    test('start right after create while the init was held before its gate: the app runs; a second start is refused', async () => {
      const outcome = await runScenario(harness(), {
        privileged,
        holdInit: true,
        process: { args: ['/bin/sh', '-c', 'echo ran; exec sleep 1000'], env: ['PATH=/bin'], cwd: '/', user: ROOT },
        afterStart: async (c) => {
          await appPid(c, 'sleep');
          await assert.rejects(releaseStart(c.dir), /not waiting to start/, 'a started init is no longer at its gate');
          process.kill(c.monitorPid, 'SIGTERM');
        },
      });
      assert.equal(outcome.stdout, 'ran\n');
      assert.equal(outcome.status, 143);
      assert.equal(outcome.recorded, 143);
    });

    test('SIGTERM right after create while the init was held before its gate ends the created container: 143', async () => {
      const outcome = await runScenario(harness(), {
        privileged,
        holdInit: true,
        start: false,
        process: { args: ['/bin/sh', '-c', 'echo ran'], env: ['PATH=/bin'], cwd: '/', user: ROOT },
        beforeStart: async (c) => {
          process.kill(c.monitorPid, 'SIGTERM');
        },
      });
      assert.equal(outcome.status, 143);
      assert.equal(outcome.recorded, 143);
      assert.equal(outcome.stdout, '', 'the app never ran');
    });

    test('an init killed before its gate fails create (the monitor never reports ready), and nothing is left', async () => {
      const outcome = await runScenario(harness(), {
        privileged,
        holdInit: 'kill',
        process: { args: ['/bin/sh', '-c', 'echo ran'], env: ['PATH=/bin'], cwd: '/', user: ROOT },
      });
      assert.equal(outcome.status, 250, 'the launcher (spawnMonitor) failed');
      assert.match(outcome.stderr, /proxrun monitor: the container's init ended before its start gate \(status 137\)/);
      assert.match(outcome.stderr, /the container monitor ended before it was ready/);
      assert.equal(outcome.stdout, '', 'the app never ran');
    });

    test('a fast payload loses no output', async () => {
      const outcome = await runScenario(harness(), {
        privileged,
        process: { args: ['/bin/sh', '-c', 'echo x; seq 1 50000; echo end'], env: ['PATH=/bin'], cwd: '/', user: ROOT },
      });
      const expected = ['x', ...Array.from({ length: 50000 }, (_, i) => String(i + 1)), 'end', ''].join('\n');
      assert.equal(outcome.stdout.length, expected.length);
      assert.equal(outcome.stdout, expected);
      assert.equal(outcome.status, 0);
    });

    test('env, cwd, uid, gid and additional gids are those of process', async () => {
      const outcome = await runScenario(harness(), {
        privileged,
        process: {
          args: ['/bin/sh', '-c', 'echo "$FOO|$(pwd)|$(id -u)|$(id -g)|$(id -G)|${container-unset}"'],
          env: ['PATH=/bin', 'FOO=bar  baz'],
          cwd: '/home/app',
          user: { uid: 1000, gid: 1000, additionalGids: [1000, 65534] },
        },
      });
      // The launcher sets the groups itself (setgroups as the CT's root), so an unprivileged CT
      // gets them too (LXC 5.0.2's lxc.init.groups did not apply there).
      assert.equal(outcome.stdout, `bar  baz|/home/app|1000|1000|1000 65534|unset\n`);
      assert.equal(outcome.status, 0);
    });

    test('awkward arguments arrive intact, stdin reaches the app', async () => {
      const awkward = [`it's a "quoted" arg`, '$HOME `id` $(id)', '', 'two\nlines', '  spaces  ', '\\'];
      const outcome = await runScenario(harness(), {
        privileged,
        stdin: 'from stdin\n',
        process: { args: ['/bin/sh', '-c', 'printf "[%s]\\n" "$@"; cat', 'argv0', ...awkward], env: ['PATH=/bin'], cwd: '/', user: ROOT },
      });
      assert.equal(outcome.stdout, awkward.map((a) => `[${a}]\n`).join('') + 'from stdin\n');
      assert.equal(outcome.status, 0);
    });
  });
}

test('the monitor keeps no fd of its caller and stays small; a Node process would not', async (t) => {
  let rss = { total: 0, pids: [] as number[] };
  let strayFds: string[] = [];
  const outcome = await runScenario(harness(), {
    privileged: false,
    process: { args: ['sleep', '1000'], env: ['PATH=/bin'], cwd: '/', user: ROOT },
    afterStart: async (c) => {
      await appPid(c, 'sleep');
      rss = await treeRssKiB(c.monitorPid);
      let pss = 0;
      for (const pid of rss.pids) pss += await pssKiB(pid);
      const lxcStartPid = await parentOf(c.initPid);
      t.diagnostic(`monitor tree: Pss sum ${pss} KiB; LXC's own lxc-start for this container: VmRSS ${await vmRssKiB(lxcStartPid)} KiB`);
      for (const pid of rss.pids) {
        for (const fd of await readdir(`/proc/${pid}/fd`)) {
          const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
          if (target.endsWith('.extra-fd')) strayFds.push(`${pid}:${fd}`);
        }
      }
      process.kill(c.monitorPid, 'SIGTERM');
    },
  });
  assert.equal(outcome.status, 143);
  assert.deepEqual(strayFds, [], 'an fd the shim opened without close-on-exec must not reach the monitor');
  t.diagnostic(`monitor tree: ${rss.pids.length} processes, VmRSS sum ${rss.total} KiB`);
  assert.ok(rss.total < 16 * 1024, `monitor tree VmRSS ${rss.total} KiB must stay under 16 MiB`);

  const node = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000); console.log("up")'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    await until('node up', () => new Promise<true | undefined>((r) => node.stdout?.once('data', () => r(true))));
    const nodeRss = await vmRssKiB(node.pid ?? 0);
    t.diagnostic(`an idle node process: VmRSS ${nodeRss} KiB`);
    assert.ok(nodeRss > 16 * 1024, `an idle Node.js process uses ${nodeRss} KiB`);
  } finally {
    node.kill('SIGKILL');
  }
});
