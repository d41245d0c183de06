/**
 * Where the simulator keeps everything under its root folder, and the `sim.json` it publishes.
 */
import path from 'node:path';
import fs from 'node:fs';
import type { SimDirStorage, SimNodePaths } from './types.js';

/** What `scripts/pve-sim start` writes to `DIR/sim.json`. */
export interface SimInfo {
  apiUrl: string;
  fingerprint: string;
  tokenId: string;
  tokenSecret: string;
  password: string;
  pveDir: string;
  nodes: Record<string, { binDir: string; lxcPath: string }>;
}

/** The daemon's own settings (`DIR/daemon.json`), written by the starter before the daemon runs. */
export interface DaemonSettings {
  nodes: string[];
  port: number;
  /** Delay before a 401 answer, in milliseconds (Proxmox: 3000). */
  authFailDelayMs: number;
  /** Path of the official schema, or undefined to use the simulator's own rules. */
  schemaFile?: string;
  /** The simulator's own network namespace (sim-netns.ts) for containers' netN devices. */
  netns: string;
}

export class SimLayout {
  constructor(readonly root: string) {}

  get pveDir(): string { return path.join(this.root, 'etc-pve'); }
  get socketPath(): string { return path.join(this.root, 'sim.sock'); }
  get simJson(): string { return path.join(this.root, 'sim.json'); }
  get secretsFile(): string { return path.join(this.root, 'secrets.json'); }
  get settingsFile(): string { return path.join(this.root, 'daemon.json'); }
  get pidFile(): string { return path.join(this.root, 'daemon.pid'); }
  get logFile(): string { return path.join(this.root, 'daemon.log'); }
  get faultsFile(): string { return path.join(this.root, 'faults.json'); }
  get requestsFile(): string { return path.join(this.root, 'requests.jsonl'); }
  get tasksDir(): string { return path.join(this.root, 'tasks'); }
  get certFile(): string { return path.join(this.root, 'pve-ssl.pem'); }
  get keyFile(): string { return path.join(this.root, 'pve-ssl.key'); }

  node(name: string): SimNodePaths {
    const base = path.join(this.root, 'nodes', name);
    return {
      node: name,
      binDir: path.join(base, 'bin'),
      lxcPath: path.join(base, 'lxc'),
      runDir: path.join(base, 'run-pve'),
      qemuRunDir: path.join(base, 'run-qemu-server'),
    };
  }

  /** The node's `local` directory storage (not shared: each node has its own folder). */
  localStorage(node: string): SimDirStorage {
    return {
      id: 'local',
      path: path.join(this.root, 'nodes', node, 'var-lib-vz'),
      content: ['vztmpl', 'rootdir', 'images', 'iso', 'snippets', 'import'],
    };
  }

  /** Config file of a guest on a node. */
  guestConf(node: string, kind: 'lxc' | 'qemu', vmid: number): string {
    return path.join(this.pveDir, 'nodes', node, kind === 'lxc' ? 'lxc' : 'qemu-server', `${vmid}.conf`);
  }

  readSettings(): DaemonSettings {
    return JSON.parse(fs.readFileSync(this.settingsFile, 'utf8')) as DaemonSettings;
  }
}
