/**
 * Turns a bundle's rootfs directory into an ext4 disk image without mounting
 * anything: `mke2fs -t ext4 -d ROOTFS`. Ownership and modes of the tree are
 * copied as they are. The size is the tree's allocated size plus headroom for
 * the file system's own structures and for writes by the payload.
 */
import { execFile } from 'node:child_process';
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface TreeUsage {
  /** Bytes allocated on disk (st_blocks × 512), directories included. */
  readonly bytes: number;
  /** Number of entries (each needs an inode). */
  readonly entries: number;
}

/** Walks the tree without following symlinks. */
export async function measureTree(root: string): Promise<TreeUsage> {
  let bytes = 0;
  let entries = 0;
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop() as string;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const stats = await lstat(path);
      bytes += stats.blocks * 512;
      entries += 1;
      if (entry.isDirectory()) pending.push(path);
    }
  }
  return { bytes, entries };
}

export interface DiskImageOptions {
  /** Extra room for the payload's writes, in MiB (default 64). */
  readonly freeMiB?: number;
}

export interface DiskImage {
  readonly path: string;
  readonly sizeBytes: number;
  readonly inodes: number;
}

const MIB = 1024 * 1024;

/** Size and inode count of the image for a tree: 10% and 16 MiB over its size, plus `freeMiB`. */
export function diskGeometry(usage: TreeUsage, freeMiB = 64): { sizeMiB: number; inodes: number } {
  const treeMiB = Math.ceil(usage.bytes / MIB);
  const sizeMiB = treeMiB + Math.ceil(treeMiB / 10) + 16 + freeMiB;
  const inodes = Math.max(4096, Math.ceil(usage.entries * 1.5) + 1024);
  return { sizeMiB, inodes };
}

/** Builds `destination` (overwritten) from the `rootfs` directory. Needs e2fsprogs ≥ 1.43 for -d. */
export async function buildDiskImage(rootfs: string, destination: string, options: DiskImageOptions = {}): Promise<DiskImage> {
  const { sizeMiB, inodes } = diskGeometry(await measureTree(rootfs), options.freeMiB);
  try {
    await execFileAsync('mke2fs', [
      '-q', '-F', '-t', 'ext4',
      '-N', String(inodes),
      '-L', 'proxrun-root',
      '-E', 'lazy_itable_init=1,lazy_journal_init=1',
      '-d', rootfs,
      destination, `${sizeMiB}M`,
    ], { env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/sbin:/usr/sbin` } });
  } catch (error) {
    await rm(destination, { force: true });
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === 'ENOENT') throw new Error('mke2fs not found: install Debian package e2fsprogs');
    throw new Error(`mke2fs could not build ${destination} from ${rootfs}: ${(failure.stderr ?? failure.message).trim()}`);
  }
  return { path: destination, sizeBytes: sizeMiB * MIB, inodes };
}
