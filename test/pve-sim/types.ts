/**
 * Types shared by the parts of the Proxmox VE simulator: the config store
 * (pve-conf.ts), the API/CLI front ends, and the LXC engine (lxc-engine.ts,
 * template.ts, volumes.ts) that runs containers with real LXC.
 */

/** One guest config file (`nodes/<node>/lxc/<vmid>.conf` or `qemu-server/<vmid>.conf`), parsed. */
export interface PveGuestConfig {
  /** Description, from the leading `#` lines (without the `#`), joined with "\n". */
  description?: string;
  /** Ordinary properties, key -> raw value as written in the file, e.g. `memory` -> `512`. */
  props: Record<string, string>;
  /**
   * Raw `lxc.*` entries in file order, including `lxc.environment.runtime` lines
   * (which the API folds into `env`). Always empty for qemu guests.
   */
  lxc: Array<[string, string]>;
  /** `[pve:pending]` section: changed properties not yet applied, plus `delete` list. */
  pending?: { props: Record<string, string>; lxc: Array<[string, string]> };
  /** Snapshot sections by name. */
  snapshots?: Record<string, { props: Record<string, string>; lxc: Array<[string, string]>; description?: string }>;
}

/** Where one node of the simulator keeps things (all under the sim root). */
export interface SimNodePaths {
  node: string;
  /** The node's `pct`, `pvesh`, `pvesm`, `qm`, `pveversion`. */
  binDir: string;
  /** LXC path of the node (`/var/lib/lxc` on a real node). */
  lxcPath: string;
  /** Stands for `/run/pve` (per-CT stderr files `ct-<vmid>.stderr`, warnings). */
  runDir: string;
  /** Stands for `/var/run/qemu-server`. */
  qemuRunDir: string;
}

/** A directory storage (type `dir`). */
export interface SimDirStorage {
  id: string;
  path: string;
  /** Content types, e.g. ['vztmpl','rootdir','images','iso','snippets','import']. */
  content: string[];
  /** Nodes that can use it; undefined = all (shared is false: each node has its own folder). */
  nodes?: string[];
}

/** What an LXC start needs beyond the guest config. */
export interface CtStartContext {
  vmid: number;
  node: SimNodePaths;
  /** Resolves a volume id (`local:100/vm-100-disk-0.raw`, `local:vztmpl/x.tar`) to a host path. */
  resolveVolume: (volid: string) => string;
  /** Appends a line to the running task's log. */
  log: (line: string) => void;
  /** Network namespace the simulator made for itself, if any (containers' netN bridges live there). */
  netns?: string;
}

/** What an OCI image archive's config maps to in the CT config (Create.pm's rules). */
export interface OciImageMapping {
  /** `entrypoint` (cmd2string of Entrypoint+Cmd), absent when empty or /sbin/init. */
  entrypoint?: string;
  /** `env`, NUL-separated. */
  env?: string;
  /** Raw keys: lxc.init.uid/gid/groups, lxc.init.cwd, lxc.signal.halt. */
  lxc: Array<[string, string]>;
  /** Whether cmode=console and host-managed nets must be forced. */
  customEntrypoint: boolean;
}
