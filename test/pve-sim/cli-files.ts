/**
 * The `pct` verbs that work on the node's files rather than through the API: push, pull (running CTs
 * only, into and out of the CT's mount namespace through /proc/PID/root with the CT's id map), and
 * mount/unmount (the rootfs at `<lxcPath>/<vmid>/rootfs`, lock `mounted`).
 */
import fs from 'node:fs';
import { mountCt, pullFile, pushFile, unmountCt, ctStatus } from './lxc-engine.js';
import { resolveVolumeId } from './volumes.js';
import type { PveGuestConfig, SimDirStorage, SimNodePaths } from './types.js';
import { ConfigStore } from './config-store.js';

/**
 * Sets or clears the `lock` property in the CT's config file, as root on the node does (the API
 * cannot: a locked CT refuses config changes and PUT config has no skiplock).
 */
export function setLock(pveDir: string, nodes: readonly string[], node: string, vmid: number, lock: string | undefined): void {
  const store = new ConfigStore(pveDir, nodes);
  const loc = { node, kind: 'lxc' as const, vmid };
  const { config } = store.read(loc);
  if (lock === undefined) delete config.props['lock'];
  else {
    const current = config.props['lock'];
    if (current !== undefined) throw new Error(`CT is locked (${current})`);
    config.props['lock'] = lock;
  }
  store.write(loc, config);
}

/** The CT config as the API returns it, back in the file's string form (what mounting needs). */
export function configFromApi(api: Record<string, unknown>): PveGuestConfig {
  const props: Record<string, string> = {};
  for (const [k, v] of Object.entries(api)) {
    if (['digest', 'lxc', 'env', 'description'].includes(k)) continue;
    props[k] = String(v);
  }
  return { props, lxc: [] };
}

/** A user or group given by name or number, looked up in the CT's own passwd/group file. */
function idInCt(root: string, file: 'passwd' | 'group', value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  let text = '';
  try {
    text = fs.readFileSync(`${root}/etc/${file}`, 'utf8');
  } catch {
    // no such file in the CT
  }
  const line = text.split('\n').find((l) => l.split(':')[0] === value);
  const id = line?.split(':')[2];
  if (id === undefined || !/^\d+$/.test(id)) throw new Error(`no such ${file === 'passwd' ? 'user' : 'group'} '${value}' in the CT`);
  return Number(id);
}

/** `--perms`: octal by default, `0x` prefix for hexadecimal (as pct documents it). */
function parsePerms(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^0x[0-9a-f]+$/i.test(value) ? parseInt(value.slice(2), 16) : /^[0-7]+$/.test(value) ? parseInt(value, 8) : NaN;
  if (!Number.isInteger(n) || n > 0o7777) throw new Error(`perms: invalid file permissions '${value}'`);
  return n;
}

export async function pctPush(node: SimNodePaths, vmid: number, file: string, dest: string, opts: { user?: string; group?: string; perms?: string }): Promise<void> {
  const st = await ctStatus(vmid, { node });
  if (!st.running || st.pid === undefined) throw new Error('can only push files to a running CT');
  if (!fs.existsSync(file)) throw new Error(`unable to open file '${file}' - No such file or directory`);
  const root = `/proc/${st.pid}/root`;
  const user = idInCt(root, 'passwd', opts.user);
  const group = idInCt(root, 'group', opts.group);
  const perms = parsePerms(opts.perms);
  await pushFile(vmid, { node }, file, dest, {
    ...(user !== undefined ? { user } : {}),
    ...(group !== undefined ? { group } : user !== undefined ? { group: user } : {}),
    ...(perms !== undefined ? { perms } : {}),
  });
}

export async function pctPull(node: SimNodePaths, vmid: number, source: string, dest: string): Promise<void> {
  await pullFile(vmid, { node }, source, dest);
}

export async function pctMount(node: SimNodePaths, storage: SimDirStorage, vmid: number, conf: PveGuestConfig): Promise<string> {
  return mountCt(conf, { vmid, node, resolveVolume: (volid) => resolveVolumeId([storage], volid), log: () => undefined });
}

export async function pctUnmount(node: SimNodePaths, vmid: number): Promise<void> {
  await unmountCt(vmid, { node });
}
