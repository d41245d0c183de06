/**
 * Proxmox worker tasks: UPIDs in pve-common's exact format, asynchronous work, a log file per task
 * ending in `TASK OK`, `TASK WARNINGS: n` or `TASK ERROR: msg`, and the status Proxmox derives from it.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface Upid {
  node: string;
  pid: number;
  pstart: number;
  starttime: number;
  type: string;
  id: string;
  user: string;
}

const hex8 = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');

export function formatUpid(u: Upid): string {
  return `UPID:${u.node}:${hex8(u.pid)}:${hex8(u.pstart)}:${hex8(u.starttime)}:${u.type}:${u.id}:${u.user}:`;
}

export function parseUpid(upid: string): Upid | undefined {
  const m = /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/.exec(upid);
  if (!m) return undefined;
  return {
    node: m[1] ?? '',
    pid: parseInt(m[3] ?? '0', 16),
    pstart: parseInt(m[4] ?? '0', 16),
    starttime: parseInt(m[5] ?? '0', 16),
    type: m[6] ?? '',
    id: m[7] ?? '',
    user: m[8] ?? '',
  };
}

/** What a task body gets to report progress. */
export interface TaskContext {
  upid: string;
  log: (line: string) => void;
  warn: (line: string) => void;
}

/** A fault the manager applies to a task of a given type before its body runs. */
export interface TaskFault {
  mode: 'error' | 'slow' | 'hang' | 'drop';
  message?: string;
  /** Delay of `slow`, milliseconds (default 5000). */
  delayMs?: number;
}

export interface TaskStatus {
  upid: string;
  node: string;
  pid: number;
  pstart: number;
  starttime: number;
  type: string;
  id: string;
  user: string;
  status: 'running' | 'stopped';
  exitstatus?: string;
}

/** exitstatus from the last log line, as pve-manager's Tasks.pm reads it. */
export function exitStatusOf(lastLine: string | undefined): string {
  if (lastLine === undefined) return 'unexpected status';
  if (lastLine === 'TASK OK') return 'OK';
  const warn = /^TASK WARNINGS: (\d+)$/.exec(lastLine);
  if (warn) return `WARNINGS: ${warn[1]}`;
  const err = /^TASK ERROR: (.*)$/.exec(lastLine);
  if (err) return err[1] ?? '';
  return 'unexpected status';
}

export function statusIsError(exitstatus: string): boolean {
  return exitstatus !== 'OK' && !/^WARNINGS: \d+$/.test(exitstatus);
}

function processStartTicks(): number {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19] ?? 0);
  } catch {
    return 0;
  }
}

/** Marks a task whose worker disappeared without writing its final line. */
class DroppedTask extends Error {}

export class TaskManager {
  private readonly running = new Set<string>();
  private readonly pstart = processStartTicks();
  private seq = 0;

  constructor(
    private readonly dir: string,
    private readonly faultFor: (type: string) => TaskFault | undefined,
    private readonly delay: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  logPath(upid: string): string {
    const u = parseUpid(upid);
    const digit = u ? (u.starttime & 0xf).toString(16).toUpperCase() : '0';
    return path.join(this.dir, digit, upid);
  }

  /** Starts `body` asynchronously and returns the UPID at once. */
  start(node: string, type: string, id: string, user: string, body: (ctx: TaskContext) => Promise<void>): string {
    this.seq += 1;
    const upid = formatUpid({
      node,
      pid: (process.pid + this.seq) % 0x400000,
      pstart: this.pstart,
      starttime: Math.floor(Date.now() / 1000),
      type,
      id,
      user,
    });
    const file = this.logPath(upid);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '');
    this.running.add(upid);
    let warnings = 0;
    const ctx: TaskContext = {
      upid,
      log: (line) => fs.appendFileSync(file, `${line.replace(/\n+$/, '')}\n`),
      warn: (line) => {
        warnings += 1;
        fs.appendFileSync(file, `WARN: ${line.replace(/\n+$/, '')}\n`);
      },
    };
    const fault = this.faultFor(type);
    const run = async (): Promise<void> => {
      if (fault?.mode === 'hang') return; // stays running until the simulator stops
      if (fault?.mode === 'slow') await this.delay(fault.delayMs ?? 5000);
      if (fault?.mode === 'error') throw new Error(fault.message ?? `injected failure of task ${type}`);
      if (fault?.mode === 'drop') throw new DroppedTask();
      await body(ctx);
    };
    setImmediate(() => {
      run().then(
        () => {
          // A task stopped meanwhile (stop()) has its final line already.
          if (fault?.mode === 'hang' || !this.running.has(upid)) return;
          fs.appendFileSync(file, warnings > 0 ? `TASK WARNINGS: ${warnings}\n` : 'TASK OK\n');
          this.running.delete(upid);
        },
        (err: unknown) => {
          if (!this.running.has(upid)) return;
          if (err instanceof DroppedTask) {
            // The worker vanished: no final line, so the status reads "unexpected status".
            this.running.delete(upid);
            return;
          }
          const msg = (err instanceof Error ? err.message : String(err)).replace(/\n+$/, '').replace(/\n/g, ' ');
          fs.appendFileSync(file, `TASK ERROR: ${msg}\n`);
          this.running.delete(upid);
        },
      );
    });
    return upid;
  }

  exists(upid: string): boolean {
    return fs.existsSync(this.logPath(upid));
  }

  readLog(upid: string): string[] {
    const text = fs.readFileSync(this.logPath(upid), 'utf8');
    return text === '' ? [] : text.replace(/\n$/, '').split('\n');
  }

  status(upid: string): TaskStatus {
    const u = parseUpid(upid);
    if (!u) throw new Error('unable to parse worker upid');
    const result: TaskStatus = { upid, ...u, status: this.running.has(upid) ? 'running' : 'stopped' };
    if (result.status === 'stopped') {
      const lines = this.readLog(upid);
      result.exitstatus = exitStatusOf(lines[lines.length - 1]);
    }
    return result;
  }

  /** All tasks of a node, newest first. */
  list(node: string): TaskStatus[] {
    const out: TaskStatus[] = [];
    if (!fs.existsSync(this.dir)) return out;
    for (const digit of fs.readdirSync(this.dir)) {
      for (const name of fs.readdirSync(path.join(this.dir, digit))) {
        const u = parseUpid(name);
        if (u && u.node === node) out.push(this.status(name));
      }
    }
    return out.sort((a, b) => b.starttime - a.starttime);
  }

  /**
   * DELETE /nodes/{node}/tasks/{upid}: a running task's worker gets SIGTERM and dies with "received
   * interrupt" (pve-common's fork_worker). The simulator cannot cut short a body already at work: it
   * ends the task as Proxmox reports it, and whatever the body still does is ignored. A task that
   * has stopped is left as it is.
   */
  stop(upid: string): void {
    if (!this.running.has(upid)) return;
    this.running.delete(upid);
    fs.appendFileSync(this.logPath(upid), 'TASK ERROR: received interrupt\n');
  }

  /** Waits until a task has stopped and returns its exit status. */
  async wait(upid: string): Promise<string> {
    while (this.running.has(upid)) await new Promise((r) => setTimeout(r, 50));
    return this.status(upid).exitstatus ?? 'unexpected status';
  }
}
