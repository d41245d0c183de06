/**
 * The raw `lxc.*` keys a container needs for its monitor folder: the
 * read-only bind mount of the shared part at /.proxrun, the init command, and
 * the app's user. On Proxmox they go into the CT's .conf as raw keys.
 */
import { CONTAINER_MOUNT_POINT, inContainer, monitorPaths } from './layout.js';
import type { MonitoredProcess } from './process.js';

export type LxcConfigEntry = readonly [key: string, value: string];

export function lxcConfigEntries(dir: string, process: MonitoredProcess): LxcConfigEntry[] {
  const shared = monitorPaths(dir).shared;
  if (/\s/.test(shared)) throw new Error(`monitor folder path must not contain white space: ${JSON.stringify(shared)}`);
  const user = process.user ?? { uid: 0, gid: 0 };
  const entries: LxcConfigEntry[] = [
    ['lxc.mount.entry', `${shared} ${CONTAINER_MOUNT_POINT} none bind,ro,create=dir 0 0`],
    ['lxc.init.cmd', `${inContainer('busybox')} sh ${inContainer('init')}`],
    ['lxc.init.uid', String(user.uid)],
    ['lxc.init.gid', String(user.gid)],
  ];
  const groups = user.additionalGids ?? [];
  if (groups.length > 0) entries.push(['lxc.init.groups', groups.join(',')]);
  return entries;
}

/** The entries as lines of an LXC config file (`key = value`). */
export function formatLxcConfig(entries: readonly LxcConfigEntry[]): string {
  return entries.map(([key, value]) => `${key} = ${value}\n`).join('');
}
