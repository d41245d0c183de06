/**
 * Fills a container's monitor folder at `create`: the shared part the
 * container sees at /.proxrun (busybox, init script, FIFOs) and the host-only
 * monitor script.
 *
 * Ownership through the id map: the folder, busybox and init stay owned by
 * host root (the container sees them as nobody and cannot change them); the
 * FIFOs belong to the app's user as the host sees it, mode 0600, so the init
 * (running as that user) can open them and nobody else in the container can.
 * Every folder above `dir` must be searchable by others (o+x): LXC opens the
 * bind-mount source from inside the user namespace.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { hostIds, type IdMap } from './id-map.js';
import { renderInitScript } from './init-script.js';
import { monitorPaths, type MonitorPaths, type SharedName } from './layout.js';
import { renderMonitorScript } from './monitor-script.js';
import type { MonitoredProcess } from './process.js';

const run = promisify(execFile);

/** Where Debian's busybox-static installs its binary. */
export const DEFAULT_HOST_BUSYBOX = '/bin/busybox';

export interface PrepareOptions {
  /** Static busybox to copy into the container's view and to run the monitor with. */
  readonly busybox?: string;
  /** The container's id map; omit for a privileged container. */
  readonly idMap?: IdMap;
  /** Relay the monitor's stdin to the app (creates the stdin FIFO). */
  readonly stdin?: boolean;
}

export async function prepareMonitorDir(dir: string, process: MonitoredProcess, options: PrepareOptions = {}): Promise<MonitorPaths> {
  if (process.terminal === true) {
    throw new Error('process.terminal is not supported by the proxmox-lxc monitor (no pty relay yet)');
  }
  const busybox = options.busybox ?? DEFAULT_HOST_BUSYBOX;
  const initScript = renderInitScript(process, { stdin: options.stdin === true });
  const user = process.user ?? { uid: 0, gid: 0 };
  const owner = hostIds(user.uid, user.gid, options.idMap);
  const paths = monitorPaths(dir);

  await mkdir(paths.shared, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  await chmod(paths.shared, 0o755);

  await copyFile(busybox, paths.sharedFile('busybox'));
  await chmod(paths.sharedFile('busybox'), 0o755);
  await writeFile(paths.sharedFile('init'), initScript, { mode: 0o644 });
  await writeFile(paths.monitorScript, renderMonitorScript(), { mode: 0o644 });
  for (const stale of [paths.readyFile, paths.statusRaw, paths.exitStatus]) await rm(stale, { force: true });

  const fifos: SharedName[] = ['start', 'status', 'stdout', 'stderr', 'result'];
  if (options.stdin === true) fifos.push('stdin');
  const fifoPaths = fifos.map((name) => paths.sharedFile(name));
  for (const path of fifoPaths) await rm(path, { force: true });
  await run(busybox, ['mkfifo', '-m', '600', ...fifoPaths]);
  for (const path of fifoPaths) await chown(path, owner.uid, owner.gid);
  return paths;
}
