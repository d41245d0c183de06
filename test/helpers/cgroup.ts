/**
 * crun refuses hybrid cgroup hosts (v1 controllers plus a v2 mount at
 * /sys/fs/cgroup/unified): "cgroups in hybrid mode not supported". Commands that end up
 * running crun are started in a private mount namespace where that v2 mount is unmounted.
 * Nothing changes on the host: the unmount happens only inside the new namespace.
 */
import { readFileSync } from 'node:fs';
import { startCommand, pollFor, runCommand, type CommandOptions, type CommandResult, type RunningCommand } from './exec.js';
import { isAlive, stopProcess } from './cleanup.js';

export const HYBRID_V2_MOUNT = '/sys/fs/cgroup/unified';

interface MountEntry {
  readonly point: string;
  readonly fsType: string;
}

function mountsOf(mountinfoPath: string): MountEntry[] {
  return readFileSync(mountinfoPath, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const fields = line.split(' ');
      const separator = fields.indexOf('-');
      return { point: fields[4] ?? '', fsType: fields[separator + 1] ?? '' };
    });
}

/** True when cgroup v1 controllers sit under /sys/fs/cgroup and a cgroup2 is mounted at /sys/fs/cgroup/unified. */
export function isHybridCgroup(mountinfoPath = '/proc/self/mountinfo'): boolean {
  const mounts = mountsOf(mountinfoPath);
  const hasV1 = mounts.some((m) => m.fsType === 'cgroup' && m.point.startsWith('/sys/fs/cgroup/'));
  const hasUnifiedV2 = mounts.some((m) => m.fsType === 'cgroup2' && m.point === HYBRID_V2_MOUNT);
  return hasV1 && hasUnifiedV2;
}

/**
 * `argv` wrapped so that it runs in a new private mount namespace without the cgroup v2 mount.
 * The program is exec'd by the wrapper shell, so the PID of the wrapper is the program's PID.
 * On a host that is not hybrid, `argv` is returned unchanged.
 */
export function hiddenCgroup2Argv(argv: readonly string[]): string[] {
  if (!isHybridCgroup()) return [...argv];
  return [
    'unshare', '--mount', '--propagation', 'private', '--',
    '/bin/sh', '-c', `umount ${HYBRID_V2_MOUNT} && exec "$@"`, 'hide-cgroup2', ...argv,
  ];
}

/** Runs `argv` to the end with the cgroup v2 mount hidden (see `hiddenCgroup2Argv`). */
export function withHiddenCgroup2(argv: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return runCommand(hiddenCgroup2Argv(argv), options);
}

/**
 * One long-lived mount namespace without the cgroup v2 mount, for a series of commands that
 * must see the same mounts (podman mounts a container's /dev/shm in `run -d` and unmounts it
 * in `rm`). A holder process keeps the namespace alive; `enter(argv)` wraps a command in nsenter.
 */
export class HiddenCgroup2Namespace {
  private constructor(private readonly holder: RunningCommand | undefined) {}

  /** Starts the holder and waits until the v2 mount is gone inside the namespace. */
  static async start(): Promise<HiddenCgroup2Namespace> {
    if (!isHybridCgroup()) return new HiddenCgroup2Namespace(undefined);
    const holder = startCommand(hiddenCgroup2Argv(['sleep', 'infinity']), { timeoutMs: 24 * 3600_000 });
    try {
      await pollFor(() => {
        if (holder.pid <= 0) throw new Error('holder did not start');
        const mountinfo = `/proc/${holder.pid}/mountinfo`;
        const cmdline = readFileSync(`/proc/${holder.pid}/cmdline`, 'utf8');
        // Until the wrapper shell has exec'd sleep, the unmount may not have happened yet.
        return cmdline.startsWith('sleep\0') && !isHybridCgroup(mountinfo) ? true : undefined;
      }, { timeoutMs: 60_000, description: 'the hidden-cgroup2 namespace holder to be ready' });
    } catch (error) {
      holder.kill('SIGKILL');
      const result = await holder.finished;
      throw new Error(`${(error as Error).message}\nholder stderr: ${result.stderr}`);
    }
    return new HiddenCgroup2Namespace(holder);
  }

  /** PID of a process inside the namespace (for /proc/PID/mountinfo), or undefined when nothing is hidden. */
  get pid(): number | undefined {
    return this.holder?.pid;
  }

  /** `argv` wrapped to run inside the namespace. */
  enter(argv: readonly string[]): string[] {
    if (this.holder === undefined) return [...argv];
    return ['nsenter', '-t', String(this.holder.pid), '-m', '--', ...argv];
  }

  /** Ends the holder. Processes still inside the namespace keep it alive. */
  async stop(): Promise<void> {
    if (this.holder === undefined) return;
    if (await isAlive(this.holder.pid)) await stopProcess(this.holder.pid, 'SIGKILL');
    await this.holder.finished;
  }
}
