/**
 * The raw `lxc.*` keys a container needs for its monitor folder: the
 * read-only bind mount of the shared part at /.proxrun, the init command, and
 * the init's user: the CT's root (the launcher switches to process.user just
 * before it execs the app, as runc's init does). On Proxmox they go into the
 * CT's .conf as raw keys.
 */
import { CONTAINER_MOUNT_POINT, inContainer, monitorPaths } from './layout.js';

export type LxcConfigEntry = readonly [key: string, value: string];

export function lxcConfigEntries(dir: string): LxcConfigEntry[] {
  const shared = monitorPaths(dir).shared;
  if (/\s/.test(shared)) throw new Error(`monitor folder path must not contain white space: ${JSON.stringify(shared)}`);
  return [
    ['lxc.mount.entry', `${shared} ${CONTAINER_MOUNT_POINT} none bind,ro,create=dir 0 0`],
    ['lxc.init.cmd', `${inContainer('busybox')} sh ${inContainer('init')}`],
    ['lxc.init.uid', '0'],
    ['lxc.init.gid', '0'],
  ];
}

/** The entries as lines of an LXC config file (`key = value`). */
export function formatLxcConfig(entries: readonly LxcConfigEntry[]): string {
  return entries.map(([key, value]) => `${key} = ${value}\n`).join('');
}
