/**
 * A lock folder (proper-lockfile's mkdir lock, stale after 30 s without an mtime update) that also
 * names its holder: `<lock>/owner` holds the holder's pid and process start time. A lock whose
 * holder has died (a proxrun killed with SIGKILL) is taken over at once instead of after 30 s;
 * a lock without an owner file (its holder died between making the folder and writing the file)
 * falls back to proper-lockfile's staleness. Taking over removes the folder and tries again, which
 * has the same narrow race as proper-lockfile's own removal of a stale lock (two takers at once);
 * a holder whose lock was taken from it is told so by proper-lockfile on its next mtime update.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isRunning, processStartTime } from './proc.js';

const OWNER_FILE = 'owner';
const STALE_MS = 30_000;
const UPDATE_MS = 10_000;

/** proper-lockfile removes a lock with rmdir; the owner file inside must go with it. */
const lockFs = {
  ...fs,
  rmdir: (dir: string, callback: (err: NodeJS.ErrnoException | null) => void): void => fs.rm(dir, { recursive: true }, callback),
};

function readOwner(lockDir: string): { pid: number; startTime: number } | undefined {
  try {
    const [pid, startTime] = fs.readFileSync(path.join(lockDir, OWNER_FILE), 'utf8').trim().split(' ').map(Number);
    return Number.isInteger(pid) && Number.isInteger(startTime) ? { pid: pid ?? 0, startTime: startTime ?? 0 } : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the lock folder names a holder that no longer runs. */
export function holderIsDead(lockDir: string): boolean {
  const owner = readOwner(lockDir);
  return owner !== undefined && !isRunning(owner.pid, owner.startTime);
}

export interface OwnedLockOptions {
  /** How long to wait for a live holder, in ms. */
  readonly waitMs: number;
  /** Called with a one-line reason when the lock cannot be had. */
  readonly describe: (reason: string) => Error;
}

/** Runs `fn` holding the lock folder `lockDir` (made for it; its parent must exist). */
export async function withOwnedLock<T>(lockDir: string, options: OwnedLockOptions, fn: () => Promise<T>): Promise<T> {
  const { default: lockfile } = await import('proper-lockfile');
  const deadline = Date.now() + options.waitMs;
  let pause = 10;
  let release: () => Promise<void>;
  for (;;) {
    try {
      release = await lockfile.lock(lockDir, {
        realpath: false,
        lockfilePath: lockDir,
        stale: STALE_MS,
        update: UPDATE_MS,
        retries: 0,
        fs: lockFs,
      });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw options.describe((err as Error).message);
      if (holderIsDead(lockDir)) {
        fs.rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() >= deadline) throw options.describe(`timed out after ${options.waitMs / 1000} s waiting for ${lockDir}`);
      await new Promise((resolve) => setTimeout(resolve, pause + Math.floor(Math.random() * pause)));
      pause = Math.min(pause * 2, 200);
    }
  }
  try {
    // A file made in the folder changes its mtime, which proper-lockfile checks is still its own on
    // every update: the folder's times are put back as they were.
    const times = fs.statSync(lockDir);
    fs.writeFileSync(path.join(lockDir, OWNER_FILE), `${process.pid} ${processStartTime(process.pid) ?? 0}\n`, { mode: 0o600 });
    fs.utimesSync(lockDir, times.atime, times.mtime);
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
