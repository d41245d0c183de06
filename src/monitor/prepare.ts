/**
 * Fills a container's monitor folder at `create`: the shared part the
 * container sees at /.proxrun (busybox, the launcher, init script, the
 * launcher's input, FIFOs) and the host-only monitor script.
 *
 * Ownership through the id map: the folder, busybox, the launcher and init
 * stay owned by host root (the container sees them as nobody and cannot change
 * them). The launcher's input (`process`, which holds process.env) is mode
 * 0400 and belongs to the CT's root: no other host user and no other user in
 * the CT can read it. The control FIFOs (start, status, result) belong to the
 * CT's root (the init runs as it), mode 0600: the app cannot write a status of
 * its own. The stdio FIFOs belong to the app's user as the host sees it, mode
 * 0600, as runc hands the app's stdio to its user: an app may reopen
 * /proc/self/fd/1. Every folder above `dir` must be searchable by others
 * (o+x): LXC opens the bind-mount source from inside the user namespace.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { hostIds, type IdMap } from './id-map.js';
import { renderInitScript } from './init-script.js';
import { renderLaunchInput, type LaunchSpec } from './launch-input.js';
import { launcherBinary } from './launcher-binary.js';
import { monitorPaths, type MonitorPaths, type SharedName } from './layout.js';
import { renderMonitorScript } from './monitor-script.js';

const run = promisify(execFile);

/** Where Debian's busybox-static installs its binary. */
export const DEFAULT_HOST_BUSYBOX = '/bin/busybox';

export interface PrepareOptions {
  /** Static busybox to copy into the container's view and to run the monitor with. */
  readonly busybox?: string;
  /** The launcher binary to copy (default: the one `npm run build` made). */
  readonly launcher?: string;
  /** The container's id map; omit for a privileged container. */
  readonly idMap?: IdMap;
  /** Relay the monitor's stdin to the app (creates the stdin FIFO). */
  readonly stdin?: boolean;
}

export async function prepareMonitorDir(dir: string, launch: LaunchSpec, options: PrepareOptions = {}): Promise<MonitorPaths> {
  const busybox = options.busybox ?? DEFAULT_HOST_BUSYBOX;
  const launcher = options.launcher ?? launcherBinary();
  const input = renderLaunchInput(launch);
  const initScript = renderInitScript({ stdin: options.stdin === true });
  const root = hostIds(0, 0, options.idMap);
  const app = hostIds(launch.uid, launch.gid, options.idMap);
  const paths = monitorPaths(dir);

  await mkdir(paths.shared, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  await chmod(paths.shared, 0o755);

  await copyFile(busybox, paths.sharedFile('busybox'));
  await chmod(paths.sharedFile('busybox'), 0o755);
  await copyFile(launcher, paths.sharedFile('launch'));
  await chmod(paths.sharedFile('launch'), 0o755);
  await writeFile(paths.sharedFile('init'), initScript, { mode: 0o644 });
  // Created empty with 0400 and chowned before the secret goes in, so it is never readable by others.
  const processFile = paths.sharedFile('process');
  await rm(processFile, { force: true });
  await writeFile(processFile, '', { mode: 0o400, flag: 'wx' });
  await chown(processFile, root.uid, root.gid);
  await writeFile(processFile, input);
  await writeFile(paths.monitorScript, renderMonitorScript(), { mode: 0o644 });
  for (const stale of [paths.readyFile, paths.statusRaw, paths.exitStatus]) await rm(stale, { force: true });

  const control: SharedName[] = ['start', 'status', 'result'];
  const stdio: SharedName[] = ['stdout', 'stderr'];
  if (options.stdin === true) stdio.push('stdin');
  const fifoPaths = [...control, ...stdio].map((name) => paths.sharedFile(name));
  for (const path of fifoPaths) await rm(path, { force: true });
  await run(busybox, ['mkfifo', '-m', '600', ...fifoPaths]);
  for (const name of control) await chown(paths.sharedFile(name), root.uid, root.gid);
  for (const name of stdio) await chown(paths.sharedFile(name), app.uid, app.gid);
  return paths;
}
