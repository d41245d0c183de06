/**
 * What every API handler gets: the layout, the config store, tasks, storages, the CT runtime and the
 * identity of the caller.
 */
import type { Identity } from './auth.js';
import type { ConfigStore } from './config-store.js';
import type { TaskManager } from './tasks.js';
import type { SimLayout } from './sim-layout.js';
import type { SimDirStorage, SimNodePaths, PveGuestConfig, CtStartContext, OciImageMapping } from './types.js';
import type { Params } from './api-schema.js';

/** Running state of a container as LXC reports it. */
export interface CtState {
  running: boolean;
  pid?: number;
}

/** What the simulator needs from the part that runs containers with real LXC. */
export interface CtRuntime {
  state(node: SimNodePaths, vmid: number): Promise<CtState>;
  start(ctx: CtStartContext, config: PveGuestConfig): Promise<void>;
  stop(node: SimNodePaths, vmid: number): Promise<void>;
  shutdown(node: SimNodePaths, vmid: number, timeoutS: number, forceStop: boolean): Promise<void>;
  /** Extracts a vztmpl archive into a mounted rootfs; returns the OCI mapping when it is an OCI image. */
  extractTemplate(
    archive: string,
    rootDir: string,
    job: { vmid: number; unprivileged: boolean; log: (l: string) => void; warn: (l: string) => void },
  ): Promise<{ oci?: OciImageMapping; ostype: string }>;
  /** Mounts the CT's rootfs (and mount points) at `target` for the time of `fn`. */
  withRootfs<T>(volumePath: string, target: string, fn: () => Promise<T>): Promise<T>;
}

export interface SimContext {
  layout: SimLayout;
  nodes: readonly string[];
  store: ConfigStore;
  tasks: TaskManager;
  runtime: CtRuntime;
  storages(node: string): SimDirStorage[];
  nodePaths(node: string): SimNodePaths;
  /** The simulator's network namespace, when it could make one (netN is honoured only there). */
  netns?: string;
}

export interface HandlerRequest {
  ctx: SimContext;
  identity: import('./auth.js').Identity;
  params: Params;
  /** Files of a multipart upload, by field name: temporary path on disk. */
  files: Record<string, { path: string; filename: string }>;
}

export type Handler = (req: HandlerRequest) => Promise<unknown>;
export type { Identity };

/** A result with extra top-level keys beside `data` (e.g. `total`). */
export class Envelope {
  constructor(readonly data: unknown, readonly extra: Record<string, unknown>) {}
}
