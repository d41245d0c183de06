/**
 * Node-local rootfs delivery: copies the bundle's rootfs into the CT's
 * directory volume (`cp -a`, reflinks where the file system has them), then
 * shifts every owner into the CT's id map (unprivileged: host id = id + base),
 * taking each owner from the source so hard links are never shifted twice.
 * chown clears set-id bits, so modes are put back afterwards.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, lchown, lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { IdMap } from '../../../monitor/index.js';

const run = promisify(execFile);

export async function copyRootfs(source: string, target: string, idMap: IdMap | undefined): Promise<void> {
  try {
    await run('cp', ['-a', '--reflink=auto', `${source}/.`, `${target}/`], { maxBuffer: 16 << 20 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim().split('\n')[0];
    throw new Error(`copy rootfs ${source} into ${target}: ${stderr ?? (err as Error).message}`);
  }
  if (idMap !== undefined) await shiftOwners(source, target, '', idMap);
}

function mapId(id: number, base: number, size: number, what: string, file: string): number {
  if (id >= size) throw new Error(`rootfs file ${file} has ${what} ${id}, outside the container's id map (0-${size - 1})`);
  return base + id;
}

async function shiftOwners(sourceRoot: string, targetRoot: string, rel: string, idMap: IdMap): Promise<void> {
  const source = path.join(sourceRoot, rel);
  const target = path.join(targetRoot, rel);
  const info = await lstat(source);
  const uid = mapId(info.uid, idMap.hostUidBase, idMap.size, 'uid', source);
  const gid = mapId(info.gid, idMap.hostGidBase, idMap.size, 'gid', source);
  if (info.isSymbolicLink()) {
    await lchown(target, uid, gid);
    return;
  }
  await chown(target, uid, gid);
  if ((info.mode & 0o7000) !== 0) await chmod(target, info.mode & 0o7777);
  if (!info.isDirectory()) return;
  for (const name of await readdir(source)) await shiftOwners(sourceRoot, targetRoot, path.join(rel, name), idMap);
}
