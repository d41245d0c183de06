import fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import type { Options } from 'execa';
import type { Problem } from '../../oci/problems.js';
import type {
  Backend,
  BackendContext,
  BackendStatus,
  ContainerStatus,
  CreateRequest,
  ExecRequest,
  RunRequest,
} from '../../runtime/backend.js';
import { ChildExit, RuntimeError } from '../../runtime/errors.js';
import type { ContainerRecord } from '../../runtime/state-store.js';

type PassthroughName = 'runc' | 'crun';

/**
 * runc and crun, unchanged: the real binary runs with the caller's flags mapped
 * through, its own state root inside the container's proxrun folder, and proxrun's
 * stdio, so the container process gets the caller's pipes. Its exit status and
 * error message come back as they are.
 */
export function createPassthroughBackend(name: PassthroughName): Backend {
  return new PassthroughBackend(name);
}

const STATUSES: readonly ContainerStatus[] = ['creating', 'created', 'running', 'paused', 'stopped'];

class PassthroughBackend implements Backend {
  readonly name: PassthroughName;

  constructor(name: PassthroughName) {
    this.name = name;
  }

  /** The binary: the configured path, else the name looked up on PATH. */
  binary(ctx: BackendContext): string | undefined {
    const configured = ctx.config[this.name]?.path;
    if (configured) return isExecutable(configured) ? configured : undefined;
    for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
      const candidate = path.join(dir || '.', this.name);
      if (isExecutable(candidate)) return candidate;
    }
    return undefined;
  }

  private binaryOrThrow(ctx: BackendContext): string {
    const bin = this.binary(ctx);
    if (!bin) throw new RuntimeError('Backend', this.missingMessage(ctx));
    return bin;
  }

  private missingMessage(ctx: BackendContext): string {
    const configured = ctx.config[this.name]?.path;
    return configured
      ? `backend ${this.name}: ${configured} (${this.name}.path in the proxrun config) is not an executable file`
      : `backend ${this.name}: no ${this.name} binary found on PATH; install it or set ${this.name}.path in the proxrun config`;
  }

  async check(_spec: unknown, ctx: BackendContext): Promise<Problem[]> {
    // runc and crun honour the whole spec themselves; the only thing to check here is that they exist.
    return this.binary(ctx) ? [] : [{ path: '', message: this.missingMessage(ctx) }];
  }

  /** Global flags for the child: its own root under the container's folder, and the caller's logging. */
  private globalArgs(ctx: BackendContext, withSystemd = true): string[] {
    const g = ctx.globals;
    const args = ['--root', path.join(ctx.containerDir, this.name)];
    if (g.log) args.push('--log', g.log, '--log-format', g.logFormat);
    if (g.debug) args.push('--debug');
    if (withSystemd && g.systemdCgroup) args.push('--systemd-cgroup');
    return args;
  }

  /** Runs the child with proxrun's stdio (and fds 3.. for preserve-fds); resolves to its exit status. */
  private async runInherited(ctx: BackendContext, args: string[], extraFds = 0): Promise<number> {
    const bin = this.binaryOrThrow(ctx);
    const { execa } = await import('execa');
    const stdio: Array<'inherit' | number> = ['inherit', 'inherit', 'inherit'];
    for (let fd = 3; fd < 3 + extraFds; fd++) stdio.push(fd);
    const result = await execa(bin, args, { stdio: stdio as unknown as Options['stdio'], reject: false });
    return exitStatus(result.exitCode, result.signal);
  }

  /** Runs the child and fails with ChildExit (its message is already on stderr and in the log). */
  private async runOrFail(ctx: BackendContext, args: string[], extraFds = 0): Promise<void> {
    const status = await this.runInherited(ctx, args, extraFds);
    if (status !== 0) throw new ChildExit(status);
  }

  /** `create` or `run` with the caller's create flags, the child's own root made first. */
  private createArgs(command: 'create' | 'run', req: CreateRequest & { detach?: boolean }, ctx: BackendContext): string[] {
    fs.mkdirSync(path.join(ctx.containerDir, this.name), { mode: 0o700 });
    const args = [...this.globalArgs(ctx), command, '--bundle', req.record.bundle];
    if (req.detach) args.push('--detach');
    if (req.pidFile) args.push('--pid-file', req.pidFile);
    if (req.consoleSocket) args.push('--console-socket', req.consoleSocket);
    if (req.noPivot) args.push('--no-pivot');
    if (req.noNewKeyring) args.push('--no-new-keyring');
    if (req.preserveFds > 0) args.push('--preserve-fds', String(req.preserveFds));
    // `--` first: an id such as `--help` is an id to runc and crun, never a flag.
    args.push('--', req.record.id);
    return args;
  }

  async create(req: CreateRequest, ctx: BackendContext): Promise<Record<string, unknown>> {
    await this.runOrFail(ctx, this.createArgs('create', req, ctx), preservedFdCount(req.preserveFds));
    return {};
  }

  async run(req: RunRequest, ctx: BackendContext): Promise<number> {
    return this.runInherited(ctx, this.createArgs('run', req, ctx), preservedFdCount(req.preserveFds));
  }

  async start(record: ContainerRecord, ctx: BackendContext): Promise<void> {
    await this.runOrFail(ctx, [...this.globalArgs(ctx), 'start', '--', record.id]);
  }

  async status(record: ContainerRecord, ctx: BackendContext): Promise<BackendStatus> {
    if (!this.knows(record, ctx)) return { status: 'stopped', pid: 0 };
    const bin = this.binaryOrThrow(ctx);
    // `state` runs on every poll: node's execFile loads nothing, where execa would cost a chunk load.
    const result = await captureOutput(bin, ['--root', path.join(ctx.containerDir, this.name), 'state', '--', record.id]);
    if (result.exitCode !== 0) {
      // The child lost the container (deleted behind our back): it is not running any more.
      if (/does not exist|not found|No such file/i.test(result.stderr)) return { status: 'stopped', pid: 0 };
      throw new RuntimeError('Backend', `${this.name} state ${record.id} failed: ${lastLine(result.stderr)}`);
    }
    const state = JSON.parse(result.stdout) as { status?: string; pid?: number };
    const status = STATUSES.find((s) => s === state.status);
    if (!status) throw new RuntimeError('Backend', `${this.name} state ${record.id}: unexpected status ${JSON.stringify(state.status)}`);
    return { status, pid: state.pid ?? 0 };
  }

  /** Whether the child runtime has a state folder for the container. */
  private knows(record: ContainerRecord, ctx: BackendContext): boolean {
    return fs.existsSync(path.join(ctx.containerDir, this.name, record.id));
  }

  async kill(record: ContainerRecord, signal: number, all: boolean, ctx: BackendContext): Promise<void> {
    const args = [...this.globalArgs(ctx, false), 'kill'];
    if (all) args.push('--all');
    args.push('--', record.id, String(signal));
    await this.runOrFail(ctx, args);
  }

  async delete(record: ContainerRecord, force: boolean, ctx: BackendContext): Promise<void> {
    if (!this.knows(record, ctx)) return;
    const args = [...this.globalArgs(ctx, false), 'delete'];
    if (force) args.push('--force');
    args.push('--', record.id);
    await this.runOrFail(ctx, args);
  }

  async ps(record: ContainerRecord, format: 'table' | 'json', psArgs: string[], ctx: BackendContext): Promise<void> {
    await this.runOrFail(ctx, [...this.globalArgs(ctx, false), 'ps', '--format', format, '--', record.id, ...psArgs]);
  }

  async exec(record: ContainerRecord, req: ExecRequest, ctx: BackendContext): Promise<number> {
    const args = [...this.globalArgs(ctx, false), 'exec'];
    if (req.processFile) args.push('--process', req.processFile);
    if (req.detach) args.push('--detach');
    if (req.pidFile) args.push('--pid-file', req.pidFile);
    if (req.tty) args.push('--tty');
    if (req.consoleSocket) args.push('--console-socket', req.consoleSocket);
    for (const e of req.env) args.push('--env', e);
    if (req.cwd) args.push('--cwd', req.cwd);
    if (req.user) args.push('--user', req.user);
    for (const g of req.additionalGids) args.push('--additional-gids', g);
    for (const c of req.caps) args.push('--cap', c);
    if (req.noNewPrivs) args.push('--no-new-privs');
    if (req.apparmor) args.push('--apparmor', req.apparmor);
    if (req.processLabel) args.push('--process-label', req.processLabel);
    if (req.preserveFds > 0) args.push('--preserve-fds', String(req.preserveFds));
    args.push('--', record.id, ...req.args);
    return this.runInherited(ctx, args, preservedFdCount(req.preserveFds));
  }

  async pause(record: ContainerRecord, ctx: BackendContext): Promise<void> {
    await this.runOrFail(ctx, [...this.globalArgs(ctx, false), 'pause', '--', record.id]);
  }

  async resume(record: ContainerRecord, ctx: BackendContext): Promise<void> {
    await this.runOrFail(ctx, [...this.globalArgs(ctx, false), 'resume', '--', record.id]);
  }

  async update(record: ContainerRecord, resources: Buffer, ctx: BackendContext): Promise<void> {
    // A file rather than stdin: node's stdio pipes are sockets, and crun opens /dev/stdin, which fails on a socket.
    const file = path.join(ctx.containerDir, `resources-${process.pid}.json`);
    fs.writeFileSync(file, resources, { mode: 0o600 });
    try {
      await this.runOrFail(ctx, [...this.globalArgs(ctx, false), 'update', '--resources', file, '--', record.id]);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }

  async features(ctx: BackendContext): Promise<Record<string, unknown> | null> {
    const bin = this.binary(ctx);
    if (!bin) return null;
    const result = await captureOutput(bin, ['features']);
    if (result.exitCode !== 0) return null; // crun 1.8 has no `features`
    try {
      return JSON.parse(result.stdout) as Record<string, unknown>;
    } catch {
      return null;
    }
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Exit status as a shell reports it: the code, or 128+N for a signal. */
function exitStatus(code: number | undefined, signal: string | undefined): number {
  if (code !== undefined) return code;
  if (signal) {
    const n = (osConstants.signals as Record<string, number>)[signal];
    return 128 + (typeof n === 'number' ? n : 0);
  }
  return 255;
}

/** fds the child must inherit beyond stdio: LISTEN_FDS (socket activation) plus --preserve-fds. */
function preservedFdCount(preserveFds: number): number {
  const listen = Number(process.env.LISTEN_FDS ?? 0);
  return (Number.isInteger(listen) && listen > 0 ? listen : 0) + preserveFds;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

/** Runs a short command and collects its output (for `state` and `features`). */
function captureOutput(bin: string, args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(bin, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ exitCode: code, stdout, stderr });
    });
    child.stdin?.end();
  });
}
