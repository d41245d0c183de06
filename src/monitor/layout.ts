/**
 * Where things live in a container's monitor folder. The folder has a private
 * part (only the host reads it) and `shared/`, which is bind-mounted read-only
 * into the container at /.proxrun.
 */
import { join } from 'node:path';

/** Mount point of the shared folder inside the container (relative to its rootfs). */
export const CONTAINER_MOUNT_POINT = '.proxrun';

/** Absolute path of the shared folder as the container sees it. */
export const IN_CONTAINER_DIR = `/${CONTAINER_MOUNT_POINT}`;

/** Names of the files in `shared/`. */
export const SHARED = {
  busybox: 'busybox',
  init: 'init',
  start: 'start',
  status: 'status',
  stdin: 'stdin',
  stdout: 'stdout',
  stderr: 'stderr',
  /** In-container FIFO: the holder reports the app's pid and then its exit status to the init. */
  result: 'result',
  /** The launcher (native/, static): applies the OCI process and execs the app, and each exec. */
  launch: 'launch',
  /** The launcher's input for the app: mode 0400, owned by the CT's root (it holds process.env). */
  process: 'process',
  /** No longer read by the init (no_new_privs is in `process`); control.ts still clears it. */
  noNewPrivs: 'no-new-privs',
} as const;

export type SharedName = keyof typeof SHARED;

/** The paths of one monitor folder on the host. */
export interface MonitorPaths {
  readonly dir: string;
  readonly shared: string;
  /** The host-side monitor script (never visible to the container). */
  readonly monitorScript: string;
  /** Written by the monitor, with its pid, once its traps and relays are in place. */
  readonly readyFile: string;
  /** Raw status line the container's init reports through the status FIFO. */
  readonly statusRaw: string;
  /** The container's exit status, written by the monitor just before it exits. */
  readonly exitStatus: string;
  sharedFile(name: SharedName): string;
}

export function monitorPaths(dir: string): MonitorPaths {
  const shared = join(dir, 'shared');
  return {
    dir,
    shared,
    monitorScript: join(dir, 'monitor.sh'),
    readyFile: join(dir, 'monitor.ready'),
    statusRaw: join(dir, 'status.raw'),
    exitStatus: join(dir, 'exit-status'),
    sharedFile: (name) => join(shared, SHARED[name]),
  };
}

/** Path of a shared file as the container sees it. */
export function inContainer(name: SharedName): string {
  return `${IN_CONTAINER_DIR}/${SHARED[name]}`;
}
