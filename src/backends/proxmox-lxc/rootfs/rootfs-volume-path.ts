/**
 * The host path of a CT's rootfs volume, for the node-local directory delivery.
 * Over the CLI transport `pvesm path` answers. Over the API transport no node
 * tool is used: the storage's definition is read from the cluster's
 * `storage.cfg` in pveDir (proxrun runs on the node, so that file is local) and
 * the path is built the way directory-like and ZFS storages lay volumes out.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ProxmoxError } from '../../../proxmox/client.js';
import { volumePath } from '../pve-ops.js';
import type { LxcBackendSettings } from '../settings.js';

export interface StorageDefinition {
  readonly type: string;
  readonly id: string;
  readonly options: Readonly<Record<string, string>>;
}

/** Sections of `storage.cfg`: `TYPE: ID` followed by indented `key value` lines. */
export function parseStorageCfg(text: string): StorageDefinition[] {
  const out: Array<{ type: string; id: string; options: Record<string, string> }> = [];
  for (const raw of text.split('\n')) {
    if (raw.trim() === '' || raw.trim().startsWith('#')) continue;
    const head = /^([a-z][a-z0-9]*):\s*(\S+)\s*$/.exec(raw);
    if (head?.[1] !== undefined && head[2] !== undefined) {
      out.push({ type: head[1], id: head[2], options: {} });
      continue;
    }
    const option = /^\s+(\S+)(?:\s+(.*))?$/.exec(raw);
    const current = out.at(-1);
    if (option?.[1] !== undefined && current !== undefined) current.options[option[1]] = (option[2] ?? '1').trim();
  }
  return out;
}

/** Types whose volumes live below `path`, images in `images/<vmid>/`. */
const PATH_TYPES = new Set(['dir', 'nfs', 'cifs', 'glusterfs']);

/** The host path of `volid` (`STORAGE:VOLNAME`) from the storage definitions. */
export function pathFromStorageCfg(storages: readonly StorageDefinition[], volid: string): string {
  const colon = volid.indexOf(':');
  const storageId = volid.slice(0, colon);
  const volname = volid.slice(colon + 1);
  if (colon <= 0 || volname === '' || volname.split('/').includes('..')) throw new ProxmoxError('storage path', `${volid} is not a volume id`);
  // pve-storage's built-in default when storage.cfg does not define `local`.
  const found = storages.find((s) => s.id === storageId) ?? (storageId === 'local' ? { type: 'dir', id: 'local', options: { path: '/var/lib/vz' } } : undefined);
  if (found === undefined) throw new ProxmoxError('storage path', `storage ${storageId} is not defined in storage.cfg`);
  if (PATH_TYPES.has(found.type)) {
    const base = found.options['path'];
    if (base === undefined || !path.isAbsolute(base)) throw new ProxmoxError('storage path', `storage ${storageId} has no absolute path in storage.cfg`);
    return path.join(base, 'images', volname);
  }
  if (found.type === 'zfspool') {
    const pool = found.options['pool'];
    if (pool === undefined) throw new ProxmoxError('storage path', `zfspool storage ${storageId} has no pool in storage.cfg`);
    return path.join(found.options['mountpoint'] ?? `/${pool}`, volname);
  }
  throw new ProxmoxError(
    'storage path',
    `storage ${storageId} is of type ${found.type}, whose volumes proxrun cannot locate without pvesm; use proxmox.rootfsDelivery "archive" or a dir/zfspool storage`,
  );
}

/** Where `volid` is on this node, without `pvesm` when the transport is the API. */
export async function rootfsVolumePath(settings: LxcBackendSettings, volid: string): Promise<string> {
  if (settings.transport === 'cli') return volumePath(settings.cliPath, volid);
  const file = path.join(settings.pveDir, 'storage.cfg');
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ProxmoxError('storage path', `cannot read ${file}: ${(err as Error).message}`);
  }
  return pathFromStorageCfg(parseStorageCfg(text), volid);
}
