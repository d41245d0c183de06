/**
 * One busybox rootfs per test process: built on first use into a temp dir, shared by every
 * container the process starts, removed when the process exits.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeBusyboxRootfs } from './busybox-rootfs.js';
import { removeDirAtExit } from './cleanup.js';

let cached: Promise<string> | undefined;

/** Path of a busybox rootfs directory (absolute). Do not modify it: other tests share it. */
export function busyboxRootfs(): Promise<string> {
  cached ??= build();
  return cached;
}

async function build(): Promise<string> {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'proxrun-rootfs-'));
  process.on('exit', () => removeDirAtExit(parent));
  const rootfs = path.join(parent, 'rootfs');
  await makeBusyboxRootfs(rootfs);
  return rootfs;
}
