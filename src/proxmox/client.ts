/**
 * One client interface for Proxmox VE, two transports: the node's own CLI
 * (`pct`, `pvesh`, `pvesm`, `qm` from `cliPath`) and the HTTPS API (API token,
 * pinned leaf-certificate fingerprint or a CA file). Backends talk only to this
 * interface, containers and VMs alike, and get it from the runtime (BackendContext),
 * so tests and both transports go through the same seam. Every write that Proxmox
 * runs as a task is awaited here: a method resolves once the task has stopped with
 * `OK` or `WARNINGS: n`, and throws a ProxmoxError carrying the task's exit status
 * otherwise. What could outlive the caller (a CLI tool's process, an API task) is
 * reported to an InflightTracker before it is waited for.
 */

/** Parameters as Proxmox takes them (form fields / CLI options). */
export type PveParams = Record<string, string | number | boolean>;

export interface CtStatus {
  status: 'running' | 'stopped';
  /** Host pid of the container's init (a VM: QEMU) while running. */
  pid?: number;
  lock?: string;
}

/** A VM's run state as Proxmox reports it (`status/current`): the same shape as a container's. */
export type VmStatus = CtStatus;

/**
 * A Proxmox operation that may still run when the proxrun that started it is gone: a node tool's
 * process (pid and start time, so a reused pid is never taken for it) or a task started over the
 * API (its UPID). `step` names it in errors and logs.
 */
export type InflightCall =
  | { kind: 'process'; pid: number; startTime: number; step: string }
  | { kind: 'task'; node: string; upid: string; step: string };

/** Told of each InflightCall before the client waits for it, and again once it has ended. */
export interface InflightTracker {
  started(call: InflightCall): void;
  ended(call: InflightCall): void;
}

/** A raw `lxc.*` line of a container's config (`key: value`). */
export interface RawLxcEntry {
  key: string;
  value: string;
}

export interface ClusterGuest {
  vmid: number;
  node: string;
  type: 'lxc' | 'qemu';
  status: string;
  name?: string;
}

export interface StorageVolume {
  volid: string;
  content: string;
  format: string;
  size: number;
  vmid?: number;
}

/** A failed Proxmox step: which step, and what Proxmox said (HTTP reason / task exit status / CLI stderr). */
export class ProxmoxError extends Error {
  readonly step: string;
  readonly detail: string;
  /** HTTP status for API errors, the exit code for CLI errors, undefined for task failures. */
  readonly status?: number;
  constructor(step: string, detail: string, status?: number) {
    super(`proxmox ${step}: ${detail}`);
    this.name = 'ProxmoxError';
    this.step = step;
    this.detail = detail;
    if (status !== undefined) this.status = status;
  }
}

export interface ProxmoxClient {
  readonly transport: 'cli' | 'api';
  /** The node proxrun runs on (containers are created here). */
  readonly node: string;

  version(): Promise<{ version: string; release: string }>;
  /** GET /cluster/nextid (optionally checking one id); the id Proxmox proposes. */
  nextId(vmid?: number): Promise<number>;
  clusterGuests(): Promise<ClusterGuest[]>;

  createCt(node: string, vmid: number, params: PveParams): Promise<void>;
  ctConfig(node: string, vmid: number): Promise<Record<string, unknown>>;
  setCtConfig(node: string, vmid: number, params: PveParams, deleteKeys?: readonly string[]): Promise<void>;
  ctStatus(node: string, vmid: number): Promise<CtStatus>;
  startCt(node: string, vmid: number): Promise<void>;
  stopCt(node: string, vmid: number): Promise<void>;
  shutdownCt(node: string, vmid: number, options: { timeout: number; forceStop: boolean }): Promise<void>;
  destroyCt(node: string, vmid: number, options: { force: boolean; purge: boolean }): Promise<void>;
  /** Removes a container's `lock` (`pct unlock`; the API has none, so over the API the node's config file is edited). */
  unlockCt(node: string, vmid: number): Promise<void>;
  /**
   * Replaces raw `lxc.*` keys of a container's config: every line of a key in `replaceKeys` goes,
   * then `entries` are appended. Proxmox has no API or CLI for raw keys: both transports edit the
   * node's config file in pveDir, as an administrator would.
   */
  setRawLxc(node: string, vmid: number, entries: readonly RawLxcEntry[], replaceKeys: readonly string[]): Promise<void>;

  /** POST /nodes/{node}/qemu (`qm create`). */
  createVm(node: string, vmid: number, params: PveParams): Promise<void>;
  vmConfig(node: string, vmid: number): Promise<Record<string, unknown>>;
  vmStatus(node: string, vmid: number): Promise<VmStatus>;
  startVm(node: string, vmid: number): Promise<void>;
  /** Hard stop (QMP quit, then signals); quiet for a VM that is not running. `skiplock`: root only. */
  stopVm(node: string, vmid: number, options?: { skiplock?: boolean }): Promise<void>;
  /** `skiplock` destroys a VM whose config is locked (root only). */
  destroyVm(node: string, vmid: number, options: { purge: boolean; skiplock?: boolean }): Promise<void>;

  /** `/cluster/mapping/dir`: a directory mapping with one entry for `node` (PVE >= 8.4). */
  createDirMapping(id: string, node: string, directory: string, description: string): Promise<void>;
  /** Removes a directory mapping; one that does not exist is not an error. */
  deleteDirMapping(id: string): Promise<void>;

  /** UPIDs of the tasks still running on `node` for guest `vmid` (GET /nodes/{node}/tasks?source=active). */
  activeTasks(node: string, vmid: number): Promise<string[]>;
  /**
   * Ends what a proxrun that is gone may have left running: a tool's process is stopped (SIGTERM,
   * then SIGKILL), a task is stopped (DELETE /nodes/{node}/tasks/{upid}); resolves once it has ended.
   */
  settle(call: InflightCall): Promise<void>;

  /** Puts a local file into a storage as `content` (vztmpl, import) named `filename`; returns the volid. */
  uploadFile(node: string, storage: string, content: 'vztmpl' | 'import' | 'iso', file: string, filename: string): Promise<string>;
  storageContent(node: string, storage: string, content?: string): Promise<StorageVolume[]>;
  /** Where a volume (`STORAGE:VOLNAME`) is on `node`'s file system, as Proxmox reports it (`pvesm path`). */
  volumePath(node: string, volid: string): Promise<string>;
  deleteVolume(node: string, storage: string, volid: string): Promise<void>;
}
