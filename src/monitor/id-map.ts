/**
 * Host ids for ids inside an unprivileged container, under the one-range map
 * Proxmox uses by default (`lxc.idmap = u 0 100000 65536`, same for g).
 */
export interface IdMap {
  readonly hostUidBase: number;
  readonly hostGidBase: number;
  readonly size: number;
}

/** The map of a default unprivileged Proxmox container. */
export const PROXMOX_DEFAULT_ID_MAP: IdMap = { hostUidBase: 100000, hostGidBase: 100000, size: 65536 };

function mapOne(id: number, base: number, size: number, what: string): number {
  if (!Number.isInteger(id) || id < 0 || id >= size) {
    throw new Error(`${what} ${id} is outside the container's id map (0-${size - 1})`);
  }
  return base + id;
}

/** The host uid/gid that a container uid/gid becomes; identity when there is no map (privileged). */
export function hostIds(uid: number, gid: number, map: IdMap | undefined): { uid: number; gid: number } {
  if (map === undefined) return { uid, gid };
  return { uid: mapOne(uid, map.hostUidBase, map.size, 'uid'), gid: mapOne(gid, map.hostGidBase, map.size, 'gid') };
}
