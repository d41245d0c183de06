/**
 * Pieces the Proxmox part of the benchmark measures with: timing shims around the node tools and
 * the runtime (their intervals written to a file, in wall-clock nanoseconds), interval arithmetic,
 * process-tree memory from /proc, and async process runs that wait for the process, not for
 * the monitors it leaves holding its stdio.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Wall-clock now in milliseconds, with sub-millisecond precision (same clock as `date +%s%N`). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * Writes `dir/<name>` for each tool: a sh script that runs the original and appends
 * `<start ns> <end ns> <exit code> <name> <args...>` to `logFile`. The exit status is the
 * original's. `extraArgs` are put before the caller's arguments.
 */
export function writeTimingShim(options: { dir: string; name: string; target: string; logFile: string; extraArgs?: readonly string[]; after?: string }): string {
  fs.mkdirSync(options.dir, { recursive: true });
  const file = path.join(options.dir, options.name);
  const extra = (options.extraArgs ?? []).map(quote).join(' ');
  fs.writeFileSync(file, [
    '#!/bin/sh',
    's=$(date +%s%N)',
    `${quote(options.target)} ${extra} "$@"`,
    'rc=$?',
    'e=$(date +%s%N)',
    `printf '%s %s %s %s %s\\n' "$s" "$e" "$rc" ${quote(options.name)} "$*" >> ${quote(options.logFile)}`,
    options.after ?? '',
    'exit $rc',
    '',
  ].join('\n'), { mode: 0o755 });
  return file;
}

export interface Interval {
  readonly start: number;
  readonly end: number;
  readonly tool: string;
  readonly args: string;
}

/** The intervals a timing shim logged (milliseconds, wall clock); empty when nothing ran. */
export function readIntervals(logFile: string): Interval[] {
  if (!fs.existsSync(logFile)) return [];
  return fs.readFileSync(logFile, 'utf8').split('\n').filter((line) => line !== '').map((line) => {
    const [s = '', e = '', , tool = '', ...args] = line.split(' ');
    return { start: Number(BigInt(s) / 1000n) / 1000, end: Number(BigInt(e) / 1000n) / 1000, tool, args: args.join(' ') };
  });
}

/** Total length of the union of intervals, clipped to [from, to]. */
export function coveredMs(intervals: readonly Interval[], from = -Infinity, to = Infinity): number {
  const clipped = intervals
    .map((i) => ({ start: Math.max(i.start, from), end: Math.min(i.end, to) }))
    .filter((i) => i.end > i.start)
    .sort((a, b) => a.start - b.start);
  let total = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const i of clipped) {
    if (i.start > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = i.start;
      curEnd = i.end;
    } else curEnd = Math.max(curEnd, i.end);
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

/** Parent pid of every process, from /proc/<pid>/stat. */
function parentMap(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(name), Number(fields[1]));
    } catch {
      // gone meanwhile
    }
  }
  return parents;
}

/** `pid` and all its descendants. */
export function processTree(pid: number): number[] {
  const parents = parentMap();
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

export interface Memory {
  rssKiB: number;
  pssKiB: number;
  processes: number;
}

/** Sum of VmRSS (status) and Pss (smaps_rollup) over processes; ones that ended meanwhile are skipped. */
export function memoryOf(pids: readonly number[]): Memory {
  const total: Memory = { rssKiB: 0, pssKiB: 0, processes: 0 };
  for (const pid of pids) {
    try {
      const rss = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      const pss = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1];
      if (rss === undefined || pss === undefined) continue;
      total.rssKiB += Number(rss);
      total.pssKiB += Number(pss);
      total.processes++;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** Pids whose command line contains every one of `words`. */
export function pidsWithArgs(words: readonly string[]): number[] {
  const found: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (words.every((w) => cmdline.includes(w))) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

export interface Finished {
  code: number | null;
  stderr: string;
}

/**
 * Runs a command with stdout and stderr on files in `dir` (named after `label`) and resolves
 * when the process exits, not when every holder of those files has closed them: a created
 * container's monitor keeps them. Rejects on a spawn error or after `timeoutMs`.
 */
export function runToFiles(argv: readonly string[], dir: string, label: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Finished> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  const outFile = path.join(dir, `${label}.out`);
  const errFile = path.join(dir, `${label}.err`);
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  try {
    const child = spawn(cmd, args, { stdio: ['ignore', out, err], env });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${argv.join(' ')} did not exit within ${timeoutMs} ms`));
      }, timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr: fs.readFileSync(errFile, 'utf8').trim() });
      });
    });
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
  }
}

/** As runToFiles, but throws with the stderr unless the exit code is 0. */
export async function runOk(argv: readonly string[], dir: string, label: string, env: NodeJS.ProcessEnv, timeoutMs = 180_000): Promise<void> {
  const r = await runToFiles(argv, dir, label, env, timeoutMs);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited with ${r.code}: ${r.stderr}`);
}

export interface Streamed {
  code: number | null;
  /** Wall-clock ms when the first whole stdout line arrived (undefined: none). */
  firstLineAt: number | undefined;
  firstLine: string;
  stdout: string;
  stderr: string;
  startedAt: number;
  endedAt: number;
}

/** Runs a command with stdout piped, noting when its first whole line arrives; waits for its end. */
export function runStreamed(argv: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Streamed> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  const startedAt = nowMs();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  let firstLineAt: number | undefined;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (firstLineAt === undefined && stdout.includes('\n')) firstLineAt = nowMs();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${argv.join(' ')} did not end within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, firstLineAt, firstLine: stdout.split('\n')[0] ?? '', stdout, stderr, startedAt, endedAt: nowMs() });
    });
  });
}
