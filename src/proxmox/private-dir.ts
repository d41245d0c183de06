/**
 * Folders on the node that only root may control: the host-wide VMID lock, each VM's run folder
 * (its initrd and chardev sockets), the exec stand-ins' FIFOs. They live under one folder of their
 * own, /run/proxrun-private, outside every proxrun state root: a state root holds one folder per
 * container id, so `delete --force vm` must never reach them. /run/lock (mode 1777) would let any
 * local user make the lock first and block every create.
 *
 * A folder proxrun relies on is checked, not trusted: it and every folder above it must belong to
 * root (this process's user) and be writable by nobody else, except sticky folders such as /tmp
 * above it, where no one can rename another's entry. A folder that fails is refused with the path
 * and why; proxrun never chmods or chowns what it did not make.
 */
import fs from 'node:fs';
import path from 'node:path';

export const PRIVATE_RUN_DIR = '/run/proxrun-private';

function ownUid(): number {
  return process.geteuid?.() ?? 0;
}

/** Why `dir` (an existing folder, the target itself when `last`) cannot be trusted, or undefined. */
function untrusted(dir: string, last: boolean): string | undefined {
  const info = fs.lstatSync(dir);
  if (info.isSymbolicLink()) return 'is a symbolic link';
  if (!info.isDirectory()) return 'is not a directory';
  if (info.uid !== ownUid()) return `belongs to uid ${info.uid}, not to uid ${ownUid()}`;
  const sticky = (info.mode & 0o1000) !== 0;
  if ((info.mode & 0o022) !== 0 && (last || !sticky)) return `is writable by group or others (mode ${(info.mode & 0o7777).toString(8).padStart(4, '0')})`;
  return undefined;
}

/** Throws unless `dir` and every folder above it may be trusted (see the header). */
export function assertTrustedDir(dir: string): void {
  const real = fs.realpathSync(dir);
  const chain: string[] = [];
  for (let current = real; ; current = path.dirname(current)) {
    chain.unshift(current);
    if (path.dirname(current) === current) break;
  }
  for (const [index, folder] of chain.entries()) {
    const why = untrusted(folder, index === chain.length - 1);
    if (why !== undefined) throw new Error(`refusing ${dir}: ${folder} ${why}`);
  }
}

/**
 * Makes `dir` with `mode` when it is missing (its parents too, with the same mode), then checks it
 * and the folders above it. An existing folder keeps its mode.
 */
export function ensureTrustedDir(dir: string, mode = 0o700): void {
  const made = fs.mkdirSync(dir, { recursive: true, mode });
  if (made !== undefined) fs.chmodSync(dir, mode);
  assertTrustedDir(dir);
}

/** Throws unless what exists at `file` belongs to this process's user (a lock made by someone else is never waited for). */
export function assertOwnEntry(file: string): void {
  let info: fs.Stats;
  try {
    info = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (info.uid !== ownUid()) throw new Error(`refusing ${file}: it belongs to uid ${info.uid}, not to uid ${ownUid()}`);
}
