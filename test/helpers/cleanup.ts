/**
 * Finding and removing what a test left behind: live processes whose command line names
 * a test's temp dir or socket, mounts under a dir (in this or another mount namespace),
 * and the dir itself.
 */
import { appendFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { runCommand, pollFor } from './exec.js';

export interface ProcessInfo {
  readonly pid: number;
  /** One-letter state from /proc/PID/stat (R, S, D, Z, ...). */
  readonly state: string;
  readonly argv: readonly string[];
}

async function readProcess(pid: number): Promise<ProcessInfo | undefined> {
  try {
    const [cmdline, stat] = await Promise.all([
      readFile(`/proc/${pid}/cmdline`, 'utf8'),
      readFile(`/proc/${pid}/stat`, 'utf8'),
    ]);
    // The command name in stat is in parentheses and may hold spaces: the state follows the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return { pid, state, argv: cmdline.split('\0').filter((part) => part !== '') };
  } catch {
    return undefined; // gone meanwhile
  }
}

/**
 * Live processes (zombies excluded: they hold nothing and only their parent can reap them)
 * whose command line contains `text`. This process is never included.
 */
export async function processesMentioning(text: string): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const info = await readProcess(pid);
    if (info && info.state !== 'Z' && info.argv.some((arg) => arg.includes(text))) found.push(info);
  }
  return found;
}

/** True when /proc/PID exists and is not a zombie. */
export async function isAlive(pid: number): Promise<boolean> {
  const info = await readProcess(pid);
  return info !== undefined && info.state !== 'Z';
}

/**
 * Live processes mentioning `text` that are still there after they had up to `graceMs` to end by
 * themselves, as `PID ARGV` lines. After its container is removed, a shim or conmon still finishes
 * its own work (conmon runs its exit command, `podman container cleanup`): they are waited for, not
 * taken for leftovers while they are still ending. A process that really stays costs the grace.
 */
export async function processesLeftAfter(text: string, graceMs = 60_000): Promise<string[]> {
  const describe = (procs: readonly ProcessInfo[]): string[] => procs.map((proc) => `${proc.pid} ${proc.argv.join(' ')}`);
  try {
    await pollFor(async () => ((await processesMentioning(text)).length === 0 ? true : undefined), {
      timeoutMs: graceMs,
      intervalMs: 100,
      description: `processes mentioning ${text} to end by themselves`,
    });
    return [];
  } catch {
    return describe(await processesMentioning(text));
  }
}

/** Sends SIGKILL to every live process mentioning `text` and waits until none is left. */
export async function killProcessesMentioning(text: string, timeoutMs = 60_000): Promise<void> {
  await pollFor(async () => {
    const left = await processesMentioning(text);
    for (const proc of left) {
      try { process.kill(proc.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    return left.length === 0 ? true : undefined;
  }, { timeoutMs, description: `processes mentioning ${text} to end` });
}

/** Sends `signal` to `pid`, then SIGKILL after `graceMs`, and waits until it is gone. */
export async function stopProcess(pid: number, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
  try { process.kill(pid, signal); } catch { return; }
  try {
    await pollFor(async () => ((await isAlive(pid)) ? undefined : true), { timeoutMs: graceMs, description: `pid ${pid} to exit` });
  } catch {
    try { process.kill(pid, 'SIGKILL'); } catch { return; }
    await pollFor(async () => ((await isAlive(pid)) ? undefined : true), { timeoutMs: 60_000, description: `pid ${pid} to die after SIGKILL` });
  }
}

/** Undoes the octal escapes (\040 for a space, ...) the kernel uses in mountinfo paths. */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Mount points at or under `dir`, deepest first, as seen in `mountinfoPath`
 * (`/proc/self/mountinfo` by default; `/proc/PID/mountinfo` for another mount namespace).
 */
export async function mountsUnder(dir: string, mountinfoPath = '/proc/self/mountinfo'): Promise<string[]> {
  const prefix = path.resolve(dir);
  const text = await readFile(mountinfoPath, 'utf8');
  const points = text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((field): field is string => field !== undefined)
    .map(unescapeMountPath)
    .filter((point) => point === prefix || point.startsWith(`${prefix}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/**
 * Lazily unmounts everything under `dir`. With `namespacePid`, does it inside that
 * process's mount namespace. Throws if something stays mounted.
 */
export async function unmountUnder(dir: string, namespacePid?: number): Promise<void> {
  const mountinfo = namespacePid === undefined ? '/proc/self/mountinfo' : `/proc/${namespacePid}/mountinfo`;
  const enter = namespacePid === undefined ? [] : ['nsenter', '-t', String(namespacePid), '-m', '--'];
  for (let round = 0; round < 5; round += 1) {
    const points = await mountsUnder(dir, mountinfo);
    if (points.length === 0) return;
    for (const point of points) await runCommand([...enter, 'umount', '-l', point], { timeoutMs: 10_000 });
  }
  const left = await mountsUnder(dir, mountinfo);
  if (left.length > 0) throw new Error(`still mounted under ${dir}: ${left.join(', ')}`);
}

/** Removes `dir` after making sure nothing is mounted under it in this mount namespace. */
export async function removeDir(dir: string): Promise<void> {
  await unmountUnder(dir);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Synchronous removal for `process.on('exit')`; skips dirs that still have mounts. */
export function removeDirAtExit(dir: string): void {
  const prefix = path.resolve(dir);
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => unescapeMountPath(line.split(' ')[4] ?? ''))
    .some((point) => point === prefix || point.startsWith(`${prefix}/`));
  if (!mounted) rmSync(dir, { recursive: true, force: true });
}

/** Sends SIGKILL to every live process mentioning `text`, synchronously (for a process about to exit). */
export function killProcessesMentioningSync(text: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.some((arg) => arg.includes(text))) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

const emergencyStops = new Map<number, { what: string; stop: () => void }>();
let nextEmergencyStop = 0;
let trapped = false;

/**
 * Registers a synchronous stop for something a test started that outlives the test process (a
 * detached simulator, containerd). node's runner ends a test file that runs past its timeout with
 * SIGTERM, and then no `after` hook runs: the registered stops run instead, before the process
 * exits. Returns the function that unregisters it (call it once the thing is stopped normally).
 */
export function onTestProcessKilled(what: string, stop: () => void): () => void {
  const key = nextEmergencyStop;
  nextEmergencyStop += 1;
  emergencyStops.set(key, { what, stop });
  if (!trapped) {
    trapped = true;
    for (const [signal, number] of [['SIGTERM', 15], ['SIGINT', 2]] as const) {
      process.once(signal, () => {
        for (const { what: name, stop: run } of emergencyStops.values()) {
          try {
            process.stderr.write(`test process ended by ${signal}: stopping ${name}\n`);
            run();
          } catch (error) {
            process.stderr.write(`stopping ${name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
          }
        }
        process.exit(128 + number);
      });
    }
  }
  return () => {
    emergencyStops.delete(key);
  };
}

/**
 * Notes a network namespace a test is about to make in the run's ledger (scripts/run-tests.mjs sets
 * PROXRUN_TEST_LEDGER), so that the end of the run finds it if it is left: its name alone does not say
 * whose it is. Call it before `ip netns add`.
 */
export function noteNetnsInRunLedger(name: string): void {
  const ledger = process.env['PROXRUN_TEST_LEDGER'];
  if (ledger !== undefined && ledger !== '') appendFileSync(ledger, `netns ${name}\n`);
}
