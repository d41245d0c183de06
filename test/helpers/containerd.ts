/**
 * A private containerd for end-to-end tests, and a ctr client bound to it.
 *
 * Everything lives under one temp dir: config, root, state, the gRPC socket, the runtime's
 * `--root` (ctr `--runc-root`) and ctr's IO fifos. The CRI plugin is disabled, so the host's
 * own containerd (if any) is neither used nor touched. The shim socket dir /run/containerd/s is
 * fixed in containerd 1.6; its sockets are named from our address and go away with the shims.
 */
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  describeResult, pollFor, runCommand, startCommand,
  type CommandResult, type RunningCommand,
} from './exec.js';
import { hiddenCgroup2Argv } from './cgroup.js';
import { isAlive, mountsUnder, processesLeftAfter, killProcessesMentioning, killProcessesMentioningSync, onTestProcessKilled, removeDir, stopProcess, unmountUnder } from './cleanup.js';

/** The containerd namespace ctr uses; the runtime's state sits in `<runtimeRoot>/<namespace>`. */
export const CTR_NAMESPACE = 'default';

export interface StartContainerdOptions {
  /** Start containerd (and so its shims and the runtime) with the cgroup v2 mount hidden, for crun. */
  readonly hideCgroup2?: boolean;
  readonly startTimeoutMs?: number;
}

/** What `stop()` found still there and had to remove by force; all empty after a clean test. */
export interface CleanupReport {
  readonly containers: readonly string[];
  readonly processes: readonly string[];
  readonly mounts: readonly string[];
}

export interface ContainerdInstance {
  /** The gRPC socket, for `ctr -a`. */
  readonly address: string;
  /** The temp dir holding everything of this instance. */
  readonly dir: string;
  readonly pid: number;
  /** Passed to ctr as `--runc-root`: the runtime gets `--root <runtimeRoot>/default`. */
  readonly runtimeRoot: string;
  readonly ctr: Ctr;
  /** What containerd has written to its stderr so far (its log), for failure messages. */
  log(): string;
  /** Stops containerd and removes its dir; reports what had been left behind. */
  stop(): Promise<CleanupReport>;
}

export interface CtrRunSpec {
  /** The runtime binary (`--runc-binary`). */
  readonly runtime: string;
  readonly rootfs: string;
  readonly id: string;
  readonly args: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  /** More `ctr run` flags (e.g. `--seccomp`), put before the id. */
  readonly flags?: readonly string[];
  readonly timeoutMs?: number;
}

export interface TaskEntry {
  readonly id: string;
  readonly pid: number;
  /** As ctr prints it: RUNNING, STOPPED, PAUSED, CREATED, ... */
  readonly status: string;
}

interface TaskExitEvent {
  readonly containerId: string;
  readonly processId: string;
  readonly exitStatus: number;
}

function configToml(dir: string, address: string): string {
  const quote = (value: string): string => JSON.stringify(value);
  return [
    'version = 2',
    `root = ${quote(path.join(dir, 'root'))}`,
    `state = ${quote(path.join(dir, 'state'))}`,
    'disabled_plugins = [',
    '  "io.containerd.grpc.v1.cri",',
    '  "io.containerd.snapshotter.v1.btrfs",',
    '  "io.containerd.snapshotter.v1.zfs",',
    '  "io.containerd.snapshotter.v1.aufs",',
    '  "io.containerd.snapshotter.v1.devmapper",',
    ']',
    '[grpc]',
    `  address = ${quote(address)}`,
    '[ttrpc]',
    `  address = ${quote(`${address}.ttrpc`)}`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${quote(path.join(dir, 'opt'))}`,
    '',
  ].join('\n');
}

/** Parses one line of `ctr events`: `<time> <namespace> /tasks/exit {json}`. */
function parseExitEvent(line: string): TaskExitEvent | undefined {
  const marker = ' /tasks/exit ';
  const at = line.indexOf(marker);
  if (at < 0) return undefined;
  const body: unknown = JSON.parse(line.slice(at + marker.length));
  if (typeof body !== 'object' || body === null) return undefined;
  const record = body as Record<string, unknown>;
  const containerId = record['container_id'];
  const processId = record['id'];
  const exitStatus = record['exit_status'];
  if (typeof containerId !== 'string' || typeof processId !== 'string') return undefined;
  // protobuf JSON leaves out zero values: a missing exit_status is 0.
  return { containerId, processId, exitStatus: typeof exitStatus === 'number' ? exitStatus : 0 };
}

/** ctr bound to one containerd: every command returns stdout, stderr and exit code apart. */
export class Ctr {
  /** Runtime binaries used through this client, for the final sweep of their state. */
  readonly runtimesUsed = new Set<string>();

  constructor(
    readonly address: string,
    readonly runtimeRoot: string,
    private readonly fifoDir: string,
    private readonly events: RunningCommand | undefined,
  ) {}

  /** The full argv of `ctr -a ADDRESS ...args`. */
  argv(args: readonly string[]): string[] {
    return ['ctr', '-a', this.address, ...args];
  }

  exec(args: readonly string[], timeoutMs = 60_000): Promise<CommandResult> {
    return runCommand(this.argv(args), { timeoutMs });
  }

  private runArgs(spec: CtrRunSpec, mode: '--rm' | '-d'): string[] {
    this.runtimesUsed.add(spec.runtime);
    const annotations = Object.entries(spec.annotations ?? {}).flatMap(([key, value]) => ['--annotation', `${key}=${value}`]);
    return [
      'run', mode,
      '--runc-binary', spec.runtime,
      '--runc-root', this.runtimeRoot,
      '--fifo-dir', this.fifoDir,
      ...annotations,
      ...(spec.flags ?? []),
      '--rootfs', spec.rootfs, spec.id,
      ...spec.args,
    ];
  }

  /** `ctr run --rm`: waits for the container; its exit code is the container's. */
  run(spec: CtrRunSpec): Promise<CommandResult> {
    return this.exec(this.runArgs(spec, '--rm'), spec.timeoutMs);
  }

  /** `ctr run --rm` in the background, for killing the container while ctr waits on it. */
  startRun(spec: CtrRunSpec): RunningCommand {
    return startCommand(this.argv(this.runArgs(spec, '--rm')), { timeoutMs: spec.timeoutMs ?? 60_000 });
  }

  /** `ctr run -d`: returns once the task has started. */
  runDetached(spec: CtrRunSpec): Promise<CommandResult> {
    return this.exec(this.runArgs(spec, '-d'), spec.timeoutMs);
  }

  /** `ctr task kill [-a] [-s SIGNAL] ID`. */
  taskKill(id: string, options: { signal?: string; all?: boolean } = {}): Promise<CommandResult> {
    return this.exec([
      'task', 'kill',
      ...(options.all ? ['-a'] : []),
      ...(options.signal ? ['-s', options.signal] : []),
      id,
    ]);
  }

  /** `ctr task exec --exec-id EXEC ID args...`: waits for the process; its exit code is ctr's. */
  taskExec(id: string, execId: string, args: readonly string[]): Promise<CommandResult> {
    return this.exec(['task', 'exec', '--fifo-dir', this.fifoDir, '--exec-id', execId, id, ...args]);
  }

  /** `ctr task exec` in the background, for acting while ctr waits on the process. */
  startTaskExec(id: string, execId: string, args: readonly string[], timeoutMs = 60_000): RunningCommand {
    return startCommand(this.argv(['task', 'exec', '--fifo-dir', this.fifoDir, '--exec-id', execId, id, ...args]), { timeoutMs });
  }

  /** `ctr task ps ID` as host PIDs. Throws when ctr fails. */
  async taskPids(id: string): Promise<number[]> {
    const result = await this.exec(['task', 'ps', id]);
    if (result.exitCode !== 0) throw new Error(`ctr task ps failed:\n${describeResult(result)}`);
    return result.stdout
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/)[0] ?? '')
      .filter((field) => /^\d+$/.test(field))
      .map(Number);
  }

  taskPause(id: string): Promise<CommandResult> {
    return this.exec(['task', 'pause', id]);
  }

  taskResume(id: string): Promise<CommandResult> {
    return this.exec(['task', 'resume', id]);
  }

  taskDelete(id: string, force = false): Promise<CommandResult> {
    return this.exec(['task', 'delete', ...(force ? ['--force'] : []), id]);
  }

  containerRm(id: string): Promise<CommandResult> {
    return this.exec(['container', 'rm', id]);
  }

  /** `ctr task ls`, parsed. Throws when ctr fails. */
  async taskList(): Promise<TaskEntry[]> {
    const result = await this.exec(['task', 'ls']);
    if (result.exitCode !== 0) throw new Error(`ctr task ls failed:\n${describeResult(result)}`);
    return result.stdout
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields.length >= 3)
      .map(([id = '', pid = '', status = '']) => ({ id, pid: Number(pid), status }));
  }

  /** Container ids from `ctr container ls -q`. Throws when ctr fails. */
  async containerIds(): Promise<string[]> {
    const result = await this.exec(['container', 'ls', '-q']);
    if (result.exitCode !== 0) throw new Error(`ctr container ls failed:\n${describeResult(result)}`);
    return result.stdout.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  }

  /** Polls `ctr task ls` until task `id` has `status`; returns its entry. */
  waitForTaskStatus(id: string, status: string, timeoutMs = 60_000): Promise<TaskEntry> {
    return pollFor(async () => (await this.taskList()).find((task) => task.id === id && task.status === status), {
      timeoutMs,
      intervalMs: 100,
      description: `task ${id} to be ${status}`,
    });
  }

  /**
   * The exit status containerd recorded for process `processId` (default: the init process)
   * of container `id`, from the `/tasks/exit` event. Waits for it with a deadline.
   */
  waitForExit(id: string, options: { processId?: string; timeoutMs?: number } = {}): Promise<number> {
    const events = this.events;
    if (events === undefined) throw new Error('this Ctr has no event stream');
    const processId = options.processId ?? id;
    return pollFor(() => {
      for (const line of events.stdoutSoFar().split('\n')) {
        const exit = parseExitEvent(line);
        if (exit && exit.containerId === id && exit.processId === processId) return exit.exitStatus;
      }
      return undefined;
    }, { timeoutMs: options.timeoutMs ?? 20_000, description: `the exit event of ${id}/${processId}` });
  }

  /** Kills and deletes every task and container; returns the ids that were there. */
  async removeAll(): Promise<string[]> {
    const ids = new Set<string>([...(await this.containerIds()), ...(await this.taskList()).map((task) => task.id)]);
    for (const id of ids) {
      await this.taskKill(id, { all: true, signal: 'SIGKILL' });
      try {
        await pollFor(async () => {
          const task = (await this.taskList()).find((entry) => entry.id === id);
          return task === undefined || task.status === 'STOPPED' ? true : undefined;
        }, { timeoutMs: 60_000, description: `task ${id} to stop` });
      } catch { /* fall through to a forced delete */ }
      await this.taskDelete(id, true);
      await this.containerRm(id);
    }
    return [...ids];
  }
}

/**
 * Starts `ctr events` and returns once it is subscribed: a namespace is created and removed
 * until its event shows up in the stream, so no later task exit can be missed.
 */
async function subscribeToEvents(address: string): Promise<RunningCommand> {
  const events = startCommand(['ctr', '-a', address, 'events'], { timeoutMs: 24 * 3600_000 });
  const probe = `events-probe-${process.pid}`;
  try {
    await pollFor(async () => {
      await runCommand(['ctr', '-a', address, 'namespaces', 'create', probe], { timeoutMs: 5_000 });
      await runCommand(['ctr', '-a', address, 'namespaces', 'remove', probe], { timeoutMs: 5_000 });
      return events.stdoutSoFar().includes(`/namespaces/create`) ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100, description: 'ctr events to be subscribed' });
  } catch (error) {
    events.kill('SIGKILL');
    await events.finished;
    throw error;
  }
  return events;
}

/** Starts a private containerd and waits until `ctr version` answers through its socket. */
export async function startContainerd(options: StartContainerdOptions = {}): Promise<ContainerdInstance> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'proxrun-containerd-'));
  const address = path.join(dir, 'containerd.sock');
  const runtimeRoot = path.join(dir, 'runtime-root');
  const fifoDir = path.join(dir, 'fifo');
  const configPath = path.join(dir, 'config.toml');
  await Promise.all([mkdir(runtimeRoot), mkdir(fifoDir)]);
  await writeFile(configPath, configToml(dir, address));

  const daemonArgv = ['containerd', '--config', configPath, '--log-level', 'warn'];
  const daemon = startCommand(options.hideCgroup2 ? hiddenCgroup2Argv(daemonArgv) : daemonArgv, {
    timeoutMs: 24 * 3600_000,
  });
  let events: RunningCommand | undefined;
  // containerd, its shims and their containers all name this folder.
  const forget = onTestProcessKilled(`containerd in ${dir}`, () => killProcessesMentioningSync(dir));
  const stopAll = async (): Promise<CleanupReport> => {
    forget();
    let containers: string[] = [];
    if (events !== undefined) {
      const ctr = new Ctr(address, runtimeRoot, fifoDir, events);
      try { containers = await ctr.removeAll(); } catch { /* containerd may be gone already */ }
      events.kill('SIGKILL');
      await events.finished;
    }
    if (await isAlive(daemon.pid)) await stopProcess(daemon.pid, 'SIGTERM', 30_000);
    await daemon.finished;
    // A shim ends on its own once its task is deleted; it is waited for, not taken for a leftover.
    const processes = await processesLeftAfter(dir);
    await killProcessesMentioning(dir);
    const mounts = await mountsUnder(dir);
    await unmountUnder(dir);
    await removeDir(dir);
    return { containers, processes, mounts };
  };

  try {
    await pollFor(async () => {
      if (!(await isAlive(daemon.pid))) {
        const result = await daemon.finished;
        throw new Error(`containerd exited early:\n${describeResult(result)}`);
      }
      const version = await runCommand(['ctr', '-a', address, 'version'], { timeoutMs: 5_000 });
      return version.exitCode === 0 ? true : undefined;
    }, { timeoutMs: options.startTimeoutMs ?? 30_000, intervalMs: 100, description: 'containerd to answer ctr version' });
    events = await subscribeToEvents(address);
  } catch (error) {
    await stopAll();
    throw error;
  }

  const ctr = new Ctr(address, runtimeRoot, fifoDir, events);
  let stopped: Promise<CleanupReport> | undefined;
  return {
    address,
    dir,
    pid: daemon.pid,
    runtimeRoot,
    ctr,
    log: () => daemon.stderrSoFar(),
    stop: () => {
      stopped ??= stopAll();
      return stopped;
    },
  };
}

