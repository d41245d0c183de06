/**
 * One client interface for Proxmox VE, two transports: the node's own CLI
 * (`pct`, `pvesh`, `pvesm`, `qm` from `cliPath`) and the HTTPS API (API token,
 * pinned leaf-certificate fingerprint or a CA file). Backends talk only to this
 * interface. Every write that Proxmox runs as a task is awaited here: a method
 * resolves once the task has stopped with `OK` or `WARNINGS: n`, and throws a
 * ProxmoxError carrying the task's exit status otherwise.
 */

/** Parameters as Proxmox takes them (form fields / CLI options). */
export type PveParams = Record<string, string | number | boolean>;

export interface CtStatus {
  status: 'running' | 'stopped';
  /** Host pid of the container's init while running. */
  pid?: number;
  lock?: string;
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

  /** Puts a local file into a storage as `content` (vztmpl, import) named `filename`; returns the volid. */
  uploadFile(node: string, storage: string, content: 'vztmpl' | 'import' | 'iso', file: string, filename: string): Promise<string>;
  storageContent(node: string, storage: string, content?: string): Promise<StorageVolume[]>;
  /** Where a volume (`STORAGE:VOLNAME`) is on `node`'s file system, as Proxmox reports it (`pvesm path`). */
  volumePath(node: string, volid: string): Promise<string>;
  deleteVolume(node: string, storage: string, volid: string): Promise<void>;
}
