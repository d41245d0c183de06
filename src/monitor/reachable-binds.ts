/**
 * File bind mounts whose source an unprivileged CT's root cannot reach. LXC
 * opens a bind-mount source from inside the user namespace, as host uid
 * 100000: every folder above the source must be searchable by it. podman keeps
 * /etc/hosts, /etc/hostname, /etc/resolv.conf and /run/.containerenv in a
 * runroot folder of mode 0700 owned by host root, so those mounts fail.
 *
 * Such a file is placed in `<monitor dir>/binds/`, and the entry binds it
 * there instead. The file keeps the protection its folder gave it: `binds/`
 * belongs to host root and the group of the CT's root (mode 0750), so LXC
 * (as the CT's root) can reach it and no other host user can.
 *
 * A file every user may read (podman's /etc/hosts, /etc/resolv.conf) is
 * hard-linked: the same inode, so podman's in-place rewrites (e.g. /etc/hosts
 * on `podman network connect`) still show inside; a file podman replaces by
 * rename does not (the link keeps the old inode). Any other file (a podman
 * secret, 0400 or 0444 under a 0700 folder) is copied, a snapshot taken at
 * create, with its mode and with its owner and group moved through the id
 * map: inside the CT it then shows the owner and mode it has under runc, so
 * the CT's root reads what the container's root may read and nobody else more.
 * Across filesystems a link is impossible and the copy is made the same way.
 *
 * A folder cannot be linked. The one engines bind from such a place is the
 * shared-memory folder at /dev/shm (podman's `userdata/shm`, a tmpfs of its
 * own): it becomes a private tmpfs of the CT, so /dev/shm is not shared with
 * another container that joins this one's IPC namespace.
 */
import { constants } from 'node:fs';
import { chmod, chown, copyFile, link, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { IdMap } from './id-map.js';
import type { LxcConfigEntry } from './lxc-config.js';

/** Can host uid/gid `ids` use `mode` bits (1 = x, 4 = r) of this file? */
async function allows(file: string, bit: number, ids: { uid: number; gid: number }): Promise<boolean> {
  const st = await stat(file);
  if (st.uid === ids.uid) return (st.mode & (bit << 6)) !== 0;
  if (st.gid === ids.gid) return (st.mode & (bit << 3)) !== 0;
  return (st.mode & bit) !== 0;
}

/** Whether the CT's root (host ids of uid/gid 0 under `map`) can open `file` for reading. */
export async function reachableBy(file: string, map: IdMap): Promise<boolean> {
  const ids = { uid: map.hostUidBase, gid: map.hostGidBase };
  try {
    let dir = path.dirname(file);
    for (;;) {
      if (!(await allows(dir, 1, ids))) return false;
      const parent = path.dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
    return await allows(file, 4, ids);
  } catch {
    return false;
  }
}

/** A host id as the CT sees it after the map: inside the map it is shifted, outside it stays (the CT sees nobody). */
function shifted(id: number, base: number, size: number): number {
  return id < size ? base + id : id;
}

/**
 * Puts `source` at `target`: a hard link when every user may read the file anyway, else (and when
 * the link is impossible) a copy with the source's mode, owned by the source's owner and group as
 * the id map shifts them. The copy is made 0600 first, so it is never readable by more than the end result.
 */
async function placeFile(source: string, target: string, map: IdMap): Promise<void> {
  const info = await stat(source);
  if ((info.mode & 0o004) !== 0) {
    try {
      await link(source, target);
      return;
    } catch {
      // across filesystems: copied below
    }
  }
  await rm(target, { force: true });
  await copyFile(source, target, constants.COPYFILE_FICLONE);
  await chmod(target, 0o600);
  await chown(target, shifted(info.uid, map.hostUidBase, map.size), shifted(info.gid, map.hostGidBase, map.size));
  await chmod(target, info.mode & 0o777);
}

/**
 * Returns `entries` with each unreachable file bind source replaced by a link in
 * `<dir>/binds/`. Other entries, and everything when `map` is undefined
 * (privileged: the CT's root is host root), stay as they are.
 */
export async function reachableBindEntries(dir: string, entries: readonly LxcConfigEntry[], map: IdMap | undefined): Promise<LxcConfigEntry[]> {
  if (map === undefined) return [...entries];
  const binds = path.join(dir, 'binds');
  const out: LxcConfigEntry[] = [];
  for (const [index, entry] of entries.entries()) {
    const [key, value] = entry;
    const fields = value.split(' ');
    const source = fields[0] ?? '';
    const options = (fields[3] ?? '').split(',');
    const isBind = key === 'lxc.mount.entry' && fields[2] === 'none' && source.startsWith('/');
    if (!isBind || (await reachableBy(source, map))) {
      out.push(entry);
      continue;
    }
    if (fields[1] === 'dev/shm' && options.includes('create=dir')) {
      out.push([key, 'tmpfs dev/shm tmpfs nosuid,nodev,noexec,mode=1777,create=dir 0 0']);
      continue;
    }
    if (!options.includes('create=file')) {
      out.push(entry);
      continue;
    }
    await mkdir(binds, { recursive: true, mode: 0o700 });
    await chown(binds, 0, map.hostGidBase);
    await chmod(binds, 0o750);
    const target = path.join(binds, `${index}-${path.basename(source)}`);
    await placeFile(source, target, map);
    out.push([key, [target, ...fields.slice(1)].join(' ')]);
  }
  return out;
}
