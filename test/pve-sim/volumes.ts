/**
 * Volumes on a simulated directory storage, laid out as Proxmox's dir plugin
 * lays them out: guest disks under `images/<vmid>/`, templates under
 * `template/cache/`, ISOs under `template/iso/`, snippets under `snippets/`,
 * importable disks under `import/`. Rootdir volumes are raw ext4 images
 * (mounted through a loop device, as the prestart hook does) or, with size 0,
 * plain `subvol` directories (bind-mounted).
 */
import { chown, lstat, mkdir, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { SimDirStorage } from './types.js';

/** Host uid/gid that container root maps to in Proxmox's default unprivileged id map. */
export const UNPRIVILEGED_ID_OFFSET = 100000;
/** Number of ids in the default map. */
export const UNPRIVILEGED_ID_COUNT = 65536;

export type ContentType = 'images' | 'rootdir' | 'vztmpl' | 'iso' | 'snippets' | 'import' | 'backup';

/** One row of a storage content listing (`GET .../storage/{storage}/content`). */
export interface VolumeEntry {
  volid: string;
  /** raw, qcow2, vmdk, subvol, iso, tar, tgz, tzst, txz, tbz2, snippet, ova. */
  format: string;
  size: number;
  content: ContentType;
  vmid?: number;
  /** Modification time, seconds since the epoch. */
  ctime: number;
}

/** A volume id split into storage and volume name. */
export interface ParsedVolumeId {
  storage: string;
  volname: string;
}

const STORAGE_ID = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;

/** Splits `storage:volname`; throws `invalid volume id 'X'` otherwise. */
export function parseVolumeId(volid: string): ParsedVolumeId {
  const colon = volid.indexOf(':');
  const storage = volid.slice(0, colon);
  const volname = volid.slice(colon + 1);
  if (colon <= 0 || !STORAGE_ID.test(storage) || volname === '') {
    throw new Error(`unable to parse volume ID '${volid}'`);
  }
  return { storage, volname };
}

/** What a volume name refers to on a dir storage. */
export interface ParsedVolname {
  content: ContentType;
  /** Path relative to the storage path. */
  relPath: string;
  vmid?: number;
  format: string;
}

const TEMPLATE_FORMATS: Array<[RegExp, string]> = [
  [/\.tar$/, 'tar'],
  [/\.tar\.gz$/, 'tgz'],
  [/\.tar\.xz$/, 'txz'],
  [/\.tar\.zst$/, 'tzst'],
  [/\.tar\.bz2$/, 'tbz2'],
];

/** The `t<ext>` / `tar` format Proxmox reports for a template file name, or undefined. */
export function templateFormat(name: string): string | undefined {
  return TEMPLATE_FORMATS.find(([re]) => re.test(name))?.[1];
}

const SAFE_NAME = /^[^/\0]+$/;

function checkName(volname: string, name: string): void {
  if (!SAFE_NAME.test(name) || name === '.' || name === '..') throw new Error(`unable to parse directory volume name '${volname}'`);
}

/** Parses a dir-storage volume name (`100/vm-100-disk-0.raw`, `vztmpl/x.tar`, `iso/x.iso`, ...). */
export function parseVolname(volname: string): ParsedVolname {
  const image = /^(\d+)\/((?:vm|subvol|base|basevol)-\1-disk-\d+\.(raw|qcow2|vmdk|subvol))$/.exec(volname);
  if (image) {
    const [, vmid, file, format] = image as unknown as [string, string, string, string];
    return { content: format === 'subvol' ? 'rootdir' : 'images', relPath: join('images', vmid, file), vmid: Number(vmid), format };
  }
  const slash = volname.indexOf('/');
  const kind = volname.slice(0, slash);
  const name = volname.slice(slash + 1);
  if (slash > 0) checkName(volname, name);
  switch (kind) {
    case 'vztmpl': {
      const format = templateFormat(name);
      if (format) return { content: 'vztmpl', relPath: join('template', 'cache', name), format };
      break;
    }
    case 'iso':
      if (/\.(iso|img)$/i.test(name)) return { content: 'iso', relPath: join('template', 'iso', name), format: 'iso' };
      break;
    case 'snippets':
      return { content: 'snippets', relPath: join('snippets', name), format: 'snippet' };
    case 'import': {
      const ext = /\.(raw|qcow2|vmdk|ova)$/.exec(name)?.[1];
      if (ext) return { content: 'import', relPath: join('import', name), format: ext };
      break;
    }
    case 'backup':
      return { content: 'backup', relPath: join('dump', name), format: name.replace(/^.*?\.(tar|vma)(\..*)?$/, '$1$2') };
  }
  throw new Error(`unable to parse directory volume name '${volname}'`);
}

/** Host path of a volume name on `storage`. */
export function volumePath(storage: SimDirStorage, volname: string): string {
  return join(storage.path, parseVolname(volname).relPath);
}

/**
 * Resolves a volume id against a list of storages. Throws
 * `storage 'X' does not exist` for an unknown storage.
 */
export function resolveVolumeId(storages: readonly SimDirStorage[], volid: string): string {
  const { storage, volname } = parseVolumeId(volid);
  const found = storages.find((s) => s.id === storage);
  if (!found) throw new Error(`storage '${storage}' does not exist`);
  return volumePath(found, volname);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Next free disk number for `vmid` (both `vm-` and `subvol-` names count as taken). */
async function nextDiskNumber(imageDir: string, vmid: number): Promise<number> {
  let names: string[] = [];
  try {
    names = await readdir(imageDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const taken = new Set<number>();
  const re = new RegExp(`^(?:vm|subvol|base|basevol)-${vmid}-disk-(\\d+)\\.`);
  for (const name of names) {
    const m = re.exec(name);
    if (m?.[1]) taken.add(Number(m[1]));
  }
  let n = 0;
  while (taken.has(n)) n += 1;
  return n;
}

export interface AllocRootdirOptions {
  /** Size in GiB; 0 makes a `subvol` directory. */
  sizeGiB: number;
  /** Shift the volume's root directory into the default id map (100000:100000). */
  unprivileged: boolean;
}

/**
 * Allocates a container volume on `storage` and returns its volid: a raw file
 * formatted ext4 (`<vmid>/vm-<vmid>-disk-N.raw`) or, for size 0, a directory
 * (`<vmid>/subvol-<vmid>-disk-N.subvol`).
 */
export async function allocRootdirVolume(storage: SimDirStorage, vmid: number, options: AllocRootdirOptions): Promise<string> {
  if (!Number.isFinite(options.sizeGiB) || options.sizeGiB < 0) throw new Error(`invalid size '${options.sizeGiB}': must be a number >= 0 (GiB)`);
  if (!storage.content.includes('rootdir')) throw new Error(`storage '${storage.id}' does not support container directories`);
  const imageDir = join(storage.path, 'images', String(vmid));
  await mkdir(imageDir, { recursive: true });
  const n = await nextDiskNumber(imageDir, vmid);
  const rootId = options.unprivileged ? UNPRIVILEGED_ID_OFFSET : 0;
  if (options.sizeGiB === 0) {
    const name = `subvol-${vmid}-disk-${n}.subvol`;
    const path = join(imageDir, name);
    await mkdir(path, { mode: 0o755 });
    await chown(path, rootId, rootId);
    return `${storage.id}:${vmid}/${name}`;
  }
  const name = `vm-${vmid}-disk-${n}.raw`;
  const path = join(imageDir, name);
  const bytes = Math.round(options.sizeGiB * 1024 * 1024 * 1024);
  try {
    await writeFile(path, '', { flag: 'wx' });
    await truncate(path, bytes);
    await execa('mkfs.ext4', ['-q', '-F', '-E', `root_owner=${rootId}:${rootId}`, path]);
  } catch (err) {
    await rm(path, { force: true });
    throw new Error(`unable to create volume ${storage.id}:${vmid}/${name}: ${(err as Error).message}`);
  }
  return `${storage.id}:${vmid}/${name}`;
}

/** Removes a volume's file or directory; the `images/<vmid>` folder goes when it becomes empty. */
export async function freeVolume(storage: SimDirStorage, volname: string): Promise<void> {
  const parsed = parseVolname(volname);
  const path = join(storage.path, parsed.relPath);
  if (!(await exists(path))) throw new Error(`volume '${storage.id}:${volname}' does not exist`);
  await rm(path, { recursive: true, force: true });
  if (parsed.vmid !== undefined) {
    const imageDir = join(storage.path, 'images', String(parsed.vmid));
    if ((await readdir(imageDir)).length === 0) await rm(imageDir, { recursive: true, force: true });
  }
}

export interface ListContentOptions {
  content?: ContentType;
  vmid?: number;
  /** Whether a vmid is a container (its disks are listed as `rootdir`, others as `images`). */
  isContainer?: (vmid: number) => boolean;
}

async function listFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function entryFor(storage: SimDirStorage, volname: string, isContainer: (vmid: number) => boolean): Promise<VolumeEntry | undefined> {
  let parsed: ParsedVolname;
  try {
    parsed = parseVolname(volname);
  } catch {
    return undefined;
  }
  const st = await stat(join(storage.path, parsed.relPath));
  const entry: VolumeEntry = {
    volid: `${storage.id}:${volname}`,
    format: parsed.format,
    size: parsed.format === 'subvol' ? 0 : st.size,
    content: parsed.content,
    ctime: Math.floor(st.mtimeMs / 1000),
  };
  if (parsed.vmid !== undefined) {
    entry.vmid = parsed.vmid;
    entry.content = parsed.format === 'subvol' || isContainer(parsed.vmid) ? 'rootdir' : 'images';
  }
  return entry;
}

/** Lists the volumes on `storage` that its content types allow, optionally filtered. */
export async function listContent(storage: SimDirStorage, options: ListContentOptions = {}): Promise<VolumeEntry[]> {
  const isContainer = options.isContainer ?? (() => false);
  const volnames: string[] = [];
  const allows = (c: string): boolean => storage.content.includes(c);
  if (allows('images') || allows('rootdir')) {
    for (const vmidDir of await listFiles(join(storage.path, 'images'))) {
      if (!/^\d+$/.test(vmidDir)) continue;
      for (const file of await listFiles(join(storage.path, 'images', vmidDir))) volnames.push(`${vmidDir}/${file}`);
    }
  }
  if (allows('vztmpl')) for (const f of await listFiles(join(storage.path, 'template', 'cache'))) volnames.push(`vztmpl/${f}`);
  if (allows('iso')) for (const f of await listFiles(join(storage.path, 'template', 'iso'))) volnames.push(`iso/${f}`);
  if (allows('snippets')) for (const f of await listFiles(join(storage.path, 'snippets'))) volnames.push(`snippets/${f}`);
  if (allows('import')) for (const f of await listFiles(join(storage.path, 'import'))) volnames.push(`import/${f}`);
  if (allows('backup')) for (const f of await listFiles(join(storage.path, 'dump'))) volnames.push(`backup/${f}`);
  const entries: VolumeEntry[] = [];
  for (const volname of volnames) {
    const entry = await entryFor(storage, volname, isContainer);
    if (!entry) continue;
    if (entry.content === 'images' && !allows('images')) continue;
    if (entry.content === 'rootdir' && !allows('rootdir')) continue;
    if (options.content !== undefined && entry.content !== options.content) continue;
    if (options.vmid !== undefined && entry.vmid !== options.vmid) continue;
    entries.push(entry);
  }
  return entries;
}

/** Creates the directory layout of a dir storage (what `pvesm add dir` does on first activation). */
export async function initDirStorage(storage: SimDirStorage): Promise<void> {
  for (const sub of ['images', 'template/cache', 'template/iso', 'snippets', 'import', 'dump', 'private']) {
    await mkdir(join(storage.path, sub), { recursive: true });
  }
}

/** Whether a host path is a raw image (loop mount) rather than a directory (bind mount). */
async function isImageFile(path: string): Promise<boolean> {
  return (await stat(path)).isFile();
}

/**
 * Mounts a volume at `target`: raw images through a loop device (released again
 * by the kernel on unmount), directories by bind mount. `ro` mounts read-only.
 */
export async function mountVolume(path: string, target: string, options: { ro?: boolean } = {}): Promise<void> {
  await mkdir(target, { recursive: true });
  if (await isImageFile(path)) {
    await execa('mount', ['-o', options.ro ? 'loop,ro' : 'loop', path, target]);
    return;
  }
  await execa('mount', ['--bind', path, target]);
  if (options.ro) await execa('mount', ['-o', 'remount,bind,ro', target]);
}

/** Whether something is mounted exactly at `target` (per /proc/self/mountinfo). */
export async function isMountPoint(target: string): Promise<boolean> {
  const { stdout } = await execa('findmnt', ['-n', '-o', 'TARGET', '--mountpoint', target], { reject: false });
  return stdout.trim() !== '';
}

/** Unmounts everything at or below `target`, deepest first; a no-op when nothing is mounted. */
export async function unmountTree(target: string): Promise<void> {
  const loops = new Set<string>();
  // Loop: a path can carry stacked mounts, each removed by one umount.
  for (let round = 0; round < 16; round += 1) {
    const { stdout } = await execa('findmnt', ['-n', '-l', '-o', 'TARGET,SOURCE', '-R', target], { reject: false });
    const rows = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    if (rows.length === 0) {
      await waitForLoopRelease([...loops]);
      return;
    }
    const targets = rows.map((row) => {
      const source = row.slice(row.lastIndexOf(' ') + 1);
      if (/^\/dev\/loop\d+$/.test(source)) loops.add(source);
      return row.slice(0, row.lastIndexOf(' ')).trim();
    });
    targets.sort((a, b) => b.length - a.length);
    for (const t of targets) {
      const r = await execa('umount', [t], { reject: false });
      if (r.exitCode !== 0 && (await isMountPoint(t))) throw new Error(`unable to unmount ${t}: ${r.stderr.trim()}`);
    }
  }
  throw new Error(`unable to unmount everything at ${target}`);
}

/** Whether a loop device still has a backing file. */
async function loopAttached(device: string): Promise<boolean> {
  const { exitCode, stdout } = await execa('losetup', ['-n', '-O', 'BACK-FILE', device], { reject: false });
  return exitCode === 0 && stdout.trim() !== '';
}

/**
 * The kernel frees an auto-clear loop device shortly after its last unmount;
 * wait for that (deadline 10 s), then detach whatever is left explicitly.
 */
async function waitForLoopRelease(devices: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (const device of devices) {
    while (await loopAttached(device)) {
      if (Date.now() > deadline) {
        await execa('losetup', ['-d', device]);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Loop devices currently backed by `file` (as `losetup -j` reports them). */
export async function loopDevicesFor(file: string): Promise<string[]> {
  const { stdout } = await execa('losetup', ['-n', '-O', 'NAME', '-j', file]);
  return stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}
