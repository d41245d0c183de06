/**
 * The contract between the runtime and its backends: the interface every backend implements and
 * what the runtime hands it (global flags, config, the container's folder). Backends import this
 * file, never the lifecycle; the runtime loads a backend by name in backend-loader.ts.
 */
import type { Problem } from '../oci/problems.js';
import type { BackendName, ContainerStatus, Spec } from '../oci/spec.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import type { ProxrunConfig } from './config.js';

export type { BackendName, ContainerStatus };

/** What proxrun keeps about one container, in `<root>/<id>/state.json`. */
export interface ContainerRecord {
  id: string;
  backend: BackendName;
  /** Absolute bundle path. */
  bundle: string;
  /** Absolute rootfs path. */
  rootfs: string;
  /** RFC 3339 creation time. */
  created: string;
  owner: string;
  annotations: Record<string, string>;
  /** Set while `create` is under way; a record left `creating` is a half-made container. */
  creating?: boolean;
  /** Data the backend keeps for itself (VMID, node, paths). */
  backendData: Record<string, unknown>;
}

/** Global flags of the command line, as every backend sees them. */
export interface GlobalOptions {
  root: string;
  log?: string | undefined;
  logFormat: 'text' | 'json';
  systemdCgroup: boolean;
  debug: boolean;
  rootless?: string | undefined;
}

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
  /**
   * The Proxmox client for the configured transport, built by the runtime from the config (the one
   * seam through which the Proxmox backends reach Proxmox, whichever transport). A config it cannot
   * build a client from is an InvalidConfig error naming the key.
   */
  proxmox(): Promise<ProxmoxClient>;
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
}
