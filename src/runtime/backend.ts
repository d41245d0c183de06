import type { Problem } from '../oci/problems.js';
import type { Spec } from '../oci/spec.js';
import type { ProxrunConfig } from './config.js';
import type { BackendName, ContainerRecord } from './state-store.js';

/** Global flags of the command line, as every backend sees them. */
export interface GlobalOptions {
  root: string;
  log?: string | undefined;
  logFormat: 'text' | 'json';
  systemdCgroup: boolean;
  debug: boolean;
  rootless?: string | undefined;
}

export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface BackendStatus {
  status: ContainerStatus;
  pid: number;
  /** Extra annotations for `state` (e.g. the Proxmox VMID and node). */
  annotations?: Record<string, string>;
}

export interface BackendContext {
  globals: GlobalOptions;
  config: ProxrunConfig;
  /** `<root>/<id>`, the container's own folder. */
  containerDir: string;
}

export interface CreateRequest {
  record: ContainerRecord;
  spec: Spec;
  /** config.json exactly as read from the bundle. */
  configBytes: Buffer;
  pidFile?: string | undefined;
  consoleSocket?: string | undefined;
  noPivot: boolean;
  noNewKeyring: boolean;
  preserveFds: number;
  /**
   * Set by `run` without --detach: the container's process reads the caller's stdin, as under
   * `runc run`. Backends that cannot relay it ignore it (said in their docs).
   */
  attachStdin?: boolean;
}

export interface ExecRequest {
  /** Path of a process.json given with --process (read before returning, the caller deletes it). */
  processFile?: string | undefined;
  args: string[];
  detach: boolean;
  pidFile?: string | undefined;
  tty: boolean;
  consoleSocket?: string | undefined;
  env: string[];
  cwd?: string | undefined;
  user?: string | undefined;
  additionalGids: string[];
  caps: string[];
  noNewPrivs: boolean;
  preserveFds: number;
  apparmor?: string | undefined;
  processLabel?: string | undefined;
}

export interface RunRequest extends CreateRequest {
  detach: boolean;
}

/**
 * One interface for every backend. A backend never imports another backend;
 * the runtime picks one by name and loads it lazily.
 */
export interface Backend {
  readonly name: BackendName;
  /** What this backend cannot honour in the config, and whether it is usable at all (binary present). */
  check(spec: Spec, ctx: BackendContext): Promise<Problem[]>;
  create(req: CreateRequest, ctx: BackendContext): Promise<Record<string, unknown>>;
  start(record: ContainerRecord, ctx: BackendContext): Promise<void>;
  status(record: ContainerRecord, ctx: BackendContext): Promise<BackendStatus>;
  kill(record: ContainerRecord, signal: number, all: boolean, ctx: BackendContext): Promise<void>;
  /** Destroys what create made. With `force`, stops a running container first. */
  delete(record: ContainerRecord, force: boolean, ctx: BackendContext): Promise<void>;
  /** Prints the container's host processes (`json`: an array of pids). */
  ps(record: ContainerRecord, format: 'table' | 'json', psArgs: string[], ctx: BackendContext): Promise<void>;
  /** Runs a process in the container; resolves to its exit status (0 when detached). */
  exec(record: ContainerRecord, req: ExecRequest, ctx: BackendContext): Promise<number>;
  pause(record: ContainerRecord, ctx: BackendContext): Promise<void>;
  resume(record: ContainerRecord, ctx: BackendContext): Promise<void>;
  /** `resources` is LinuxResources JSON exactly as given. */
  update(record: ContainerRecord, resources: Buffer, ctx: BackendContext): Promise<void>;
  /** The backend's part of `features`, or null when it has nothing to add. */
  features(ctx: BackendContext): Promise<Record<string, unknown> | null>;
  /** create+start in one, waiting for the process unless detached; resolves to the exit status. Optional. */
  run?(req: RunRequest, ctx: BackendContext): Promise<number>;
  /**
   * Waits until a started container's process has ended and resolves to its exit status (128+N
   * for signal N). What `run` without --detach uses on a backend without `run`.
   */
  wait?(record: ContainerRecord, ctx: BackendContext): Promise<number>;
}

export const BACKEND_NAMES: readonly BackendName[] = ['runc', 'crun', 'proxmox-lxc', 'proxmox-vm'];

export function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}

/** Loads a backend's code only when a container needs it. */
export async function loadBackend(name: BackendName): Promise<Backend> {
  switch (name) {
    case 'runc':
    case 'crun': {
      const { createPassthroughBackend } = await import('../backends/passthrough/index.js');
      return createPassthroughBackend(name);
    }
    case 'proxmox-lxc':
      return (await import('../backends/proxmox-lxc/index.js')).createProxmoxLxcBackend();
    case 'proxmox-vm':
      return (await import('../backends/proxmox-vm/index.js')).createProxmoxVmBackend();
    default:
      throw new (await import('./errors.js')).RuntimeError('Unsupported', `backend ${name} is not available in this build of proxrun`);
  }
}
