/**
 * The contract between the runtime and its backends: the interface every backend implements and
 * what the runtime hands it (global flags, config, the container's folder). Backends import this
 * file, never the lifecycle; the runtime loads a backend by name in backend-loader.ts.
 */
import type { Problem } from '../oci/problems.js';
import type { BackendName, ContainerStatus, Spec } from '../oci/spec.js';
import type { InflightCall, ProxmoxClient } from '../proxmox/client.js';
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
  /** Set before a delete starts destroying; a record left `deleting` is a delete cut short. */
  deleting?: boolean;
  /**
   * What the backend made (VMID, node, paths): during create its progress, recorded through
   * BackendContext.progress before each side effect; afterwards what it keeps for later commands.
   */
  backendData: Record<string, unknown>;
  /**
   * Proxmox calls that may still run (a tool's process, a task), recorded before they were waited
   * for and removed once they ended. The runtime ends them before a delete (docs/architecture.md,
   * "The create protocol").
   */
  inflight?: InflightCall[];
}

/**
 * A backend's progress, kept by the runtime in the container's record (written atomically with
 * fsync). A backend saves what it is about to make before it makes it, and on failure throws,
 * leaving its progress as it is: the runtime's clean-up (`delete` with force) reads it.
 */
export interface ProgressRecorder {
  /** What the backend recorded so far (during create) or keeps (afterwards). */
  readonly data: Readonly<Record<string, unknown>>;
  /** Replaces the backend's data in the record, durably, before the side effect it names. */
  save(data: object): void;
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
  /** `<root>/<id>`, the container's own folder ('' for `check` and `features`). */
  containerDir: string;
  /** The container's progress record (a recorder that keeps nothing outside a container's lock). */
  progress: ProgressRecorder;
  /**
   * The Proxmox client for the configured transport, built by the runtime from the config (the one
   * seam through which the Proxmox backends reach Proxmox, whichever transport). A config it cannot
   * build a client from is an InvalidConfig error naming the key. Under the container's lock,
   * every call that may outlive proxrun is recorded in the record's `inflight` before it is awaited.
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
  /**
   * Set by `run` without --detach: the container's process reads the caller's stdin, as under
   * `runc run`. Backends that cannot relay it ignore it (said in their docs).
   */
  attachStdin?: boolean;
}

export interface DeleteHow {
  /**
   * An earlier create or delete of this container was cut short (its record was left creating or
   * deleting, or with calls in flight): Proxmox may still run a task for it that no record names,
   * so the backend stops what runs for the guest before destroying it.
   */
  interrupted: boolean;
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
  /**
   * Makes the container, saving through `ctx.progress` what it is about to make before making it.
   * On failure it throws and leaves its progress as it is: the runtime owns the clean-up.
   */
  create(req: CreateRequest, ctx: BackendContext): Promise<void>;
  start(record: ContainerRecord, ctx: BackendContext): Promise<void>;
  status(record: ContainerRecord, ctx: BackendContext): Promise<BackendStatus>;
  kill(record: ContainerRecord, signal: number, all: boolean, ctx: BackendContext): Promise<void>;
  /** Destroys what create made. With `force`, stops a running container first. */
  delete(record: ContainerRecord, force: boolean, ctx: BackendContext, how?: DeleteHow): Promise<void>;
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
