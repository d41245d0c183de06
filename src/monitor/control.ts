/**
 * What `start`, `state` and `delete` do with a monitor folder.
 */
import { constants } from 'node:fs';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { monitorPaths } from './layout.js';

export interface ReleaseOptions {
  /** Run the app with no_new_privs (process.noNewPrivileges): the init reads a flag file after the gate. */
  readonly noNewPrivileges?: boolean;
}

/**
 * Lets the container's init run the app. Never blocks: when nothing waits on
 * the start FIFO (the init is gone or already started) it throws.
 */
export async function releaseStart(dir: string, options: ReleaseOptions = {}): Promise<void> {
  const fifo = monitorPaths(dir).sharedFile('start');
  const flag = monitorPaths(dir).sharedFile('noNewPrivs');
  if (options.noNewPrivileges === true) await writeFile(flag, '', { mode: 0o644 });
  else await rm(flag, { force: true });
  let handle;
  try {
    handle = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') {
      throw new Error('the container is not waiting to start (its init has already started or has ended)');
    }
    throw err;
  }
  try {
    await handle.write('start\n');
  } finally {
    await handle.close();
  }
}

/** The container's exit status as the monitor recorded it, or undefined while it has not ended. */
export async function readExitStatus(dir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(monitorPaths(dir).exitStatus, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const status = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(status) || status < 0 || status > 255) {
    throw new Error(`unreadable exit status in ${monitorPaths(dir).exitStatus}: ${JSON.stringify(text)}`);
  }
  return status;
}
