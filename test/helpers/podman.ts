/**
 * podman isolated for tests: its own --root, --runroot and --tmpdir under one temp dir, the
 * vfs storage driver, cgroupfs, file events, and `--runtime` pointing at the binary under test.
 * With `hideCgroup2`, every podman command (and so conmon and the runtime) runs in one shared
 * mount namespace without the cgroup v2 mount, which crun needs on hybrid hosts.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describeResult, runCommand, type CommandResult } from './exec.js';
import { HiddenCgroup2Namespace } from './cgroup.js';
import { killProcessesMentioning, mountsUnder, processesLeftAfter, removeDir, unmountUnder } from './cleanup.js';
import type { CleanupReport } from './containerd.js';

export interface PodmanOptions {
  /** The runtime binary podman hands to conmon (`--runtime`). */
  readonly runtime: string;
  readonly hideCgroup2?: boolean;
  /** Run every podman command in this network namespace (`/run/netns/NAME`, made by the test). */
  readonly netns?: string;
}

export interface PodmanRunSpec {
  readonly rootfs: string;
  readonly args: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  /** `--name`; required for detached containers so tests can address them. */
  readonly name?: string;
  readonly timeoutMs?: number;
}

export interface PodmanContainerState {
  readonly status: string;
  readonly exitCode: number;
}

/**
 * Limits podman would otherwise raise to its defaults (nofile 1048576), which fail with EPERM
 * where the hard limit is lower.
 */
const RUN_LIMITS = ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

export class Podman {
  private constructor(
    readonly dir: string,
    readonly runtime: string,
    private readonly namespace: HiddenCgroup2Namespace | undefined,
    private readonly netns?: string,
  ) {}

  static async start(options: PodmanOptions): Promise<Podman> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'proxrun-podman-'));
    try {
      const namespace = options.hideCgroup2 ? await HiddenCgroup2Namespace.start() : undefined;
      return new Podman(dir, options.runtime, namespace, options.netns);
    } catch (error) {
      await removeDir(dir);
      throw error;
    }
  }

  /** The full argv of `podman <isolating flags> ...args`, entering the hidden namespace if any. */
  argv(args: readonly string[]): string[] {
    const podman = [
      'podman',
      '--root', path.join(this.dir, 'root'),
      '--runroot', path.join(this.dir, 'runroot'),
      '--tmpdir', path.join(this.dir, 'tmp'),
      '--storage-driver', 'vfs',
      '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file',
      '--runtime', this.runtime,
      ...args,
    ];
    const inNetns = this.netns === undefined ? podman : ['nsenter', `--net=/run/netns/${this.netns}`, '--', ...podman];
    return this.namespace ? this.namespace.enter(inNetns) : inNetns;
  }

  exec(args: readonly string[], timeoutMs = 60_000): Promise<CommandResult> {
    return runCommand(this.argv(args), { timeoutMs });
  }

  private runArgs(spec: PodmanRunSpec, mode: '--rm' | '-d'): string[] {
    const annotations = Object.entries(spec.annotations ?? {}).flatMap(([key, value]) => ['--annotation', `${key}=${value}`]);
    return [
      'run', mode,
      ...(spec.name ? ['--name', spec.name] : []),
      ...RUN_LIMITS,
      ...annotations,
      '--rootfs', spec.rootfs,
      ...spec.args,
    ];
  }

  /** `podman run --rm`: waits; its exit code is the container's. */
  run(spec: PodmanRunSpec): Promise<CommandResult> {
    return this.exec(this.runArgs(spec, '--rm'), spec.timeoutMs);
  }

  /** `podman run -d --name NAME`: returns once the container runs. */
  runDetached(spec: PodmanRunSpec & { readonly name: string }): Promise<CommandResult> {
    return this.exec(this.runArgs(spec, '-d'), spec.timeoutMs);
  }

  /** `podman exec NAME args...`: its exit code is the process's. */
  execIn(name: string, args: readonly string[]): Promise<CommandResult> {
    return this.exec(['exec', name, ...args]);
  }

  kill(name: string, signal?: string): Promise<CommandResult> {
    return this.exec(['kill', ...(signal ? ['--signal', signal] : []), name]);
  }

  /** `podman stop -t SECONDS NAME`: TERM, then KILL after the timeout. */
  stop(name: string, timeoutSeconds: number): Promise<CommandResult> {
    return this.exec(['stop', '-t', String(timeoutSeconds), name], (timeoutSeconds + 60) * 1000);
  }

  /** `podman rm -f -t SECONDS NAME`: a running container gets TERM, then KILL after the timeout. */
  rmForce(name: string, timeoutSeconds = 0): Promise<CommandResult> {
    return this.exec(['rm', '-f', '-t', String(timeoutSeconds), name], (timeoutSeconds + 60) * 1000);
  }

  /** Status and exit code from `podman inspect`. Throws when podman fails. */
  async state(name: string): Promise<PodmanContainerState> {
    const result = await this.exec(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', name]);
    if (result.exitCode !== 0) throw new Error(`podman inspect failed:\n${describeResult(result)}`);
    const [status = '', exitCode = ''] = result.stdout.trim().split(' ');
    return { status, exitCode: Number(exitCode) };
  }

  /** The full container id (what the runtime is given), from `podman inspect`. */
  async containerId(name: string): Promise<string> {
    const result = await this.exec(['inspect', '--format', '{{.Id}}', name]);
    if (result.exitCode !== 0) throw new Error(`podman inspect failed:\n${describeResult(result)}`);
    return result.stdout.trim();
  }

  /** Names of all containers podman knows in this root. Throws when podman fails. */
  async containerNames(): Promise<string[]> {
    const result = await this.exec(['ps', '-a', '--format', '{{.Names}}']);
    if (result.exitCode !== 0) throw new Error(`podman ps failed:\n${describeResult(result)}`);
    return result.stdout.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  }

  /** Removes every container; returns the names that were there. */
  async removeAll(): Promise<string[]> {
    const names = await this.containerNames();
    if (names.length > 0) await this.exec(['rm', '-f', '-t', '0', '--all']);
    return names;
  }

  /** Mounts under this podman's dir, in the namespace its commands run in. */
  async mounts(): Promise<string[]> {
    const here = await mountsUnder(this.dir);
    const pid = this.namespace?.pid;
    const inside = pid === undefined ? [] : await mountsUnder(this.dir, `/proc/${pid}/mountinfo`);
    return [...new Set([...here, ...inside])];
  }

  private cleaned: Promise<CleanupReport> | undefined;

  /** Removes all containers, ends leftover conmon processes, unmounts, and deletes the dir. Idempotent. */
  cleanup(): Promise<CleanupReport> {
    this.cleaned ??= this.cleanupOnce();
    return this.cleaned;
  }

  private async cleanupOnce(): Promise<CleanupReport> {
    let containers: string[] = [];
    try { containers = await this.removeAll(); } catch { /* report what is left below */ }
    // conmon and its exit command (`podman container cleanup`) end on their own after `rm -f`.
    const processes = await processesLeftAfter(this.dir);
    await killProcessesMentioning(this.dir);
    const mounts = await this.mounts();
    const pid = this.namespace?.pid;
    if (pid !== undefined) await unmountUnder(this.dir, pid);
    await this.namespace?.stop();
    await unmountUnder(this.dir);
    await removeDir(this.dir);
    return { containers, processes, mounts };
  }
}
