/**
 * The simulated /etc/pve: guest configs under `nodes/<node>/{lxc,qemu-server}/<vmid>.conf`, read
 * fresh on every call (root may edit them directly), VMIDs unique across nodes and guest types.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PveGuestConfig } from './types.js';
import { confDigest, parseGuestConf, writeGuestConf } from './pve-conf.js';
import { plainError } from './api-error.js';

export type GuestKind = 'lxc' | 'qemu';

export interface GuestLocation {
  node: string;
  kind: GuestKind;
  vmid: number;
}

export interface LoadedGuest extends GuestLocation {
  config: PveGuestConfig;
  digest: string;
  warnings: string[];
}

const KIND_DIR: Record<GuestKind, string> = { lxc: 'lxc', qemu: 'qemu-server' };

export class ConfigStore {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly pveDir: string, readonly nodes: readonly string[]) {
    for (const node of nodes) {
      for (const dir of Object.values(KIND_DIR)) fs.mkdirSync(path.join(pveDir, 'nodes', node, dir), { recursive: true });
    }
  }

  relPath(loc: GuestLocation): string {
    return `nodes/${loc.node}/${KIND_DIR[loc.kind]}/${loc.vmid}.conf`;
  }

  file(loc: GuestLocation): string {
    return path.join(this.pveDir, this.relPath(loc));
  }

  /** Runs `fn` alone: creates and edits never interleave inside the simulator. */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Every guest in the cluster. */
  all(): GuestLocation[] {
    const out: GuestLocation[] = [];
    const nodesDir = path.join(this.pveDir, 'nodes');
    for (const node of fs.existsSync(nodesDir) ? fs.readdirSync(nodesDir) : []) {
      for (const kind of ['lxc', 'qemu'] as const) {
        const dir = path.join(nodesDir, node, KIND_DIR[kind]);
        if (!fs.existsSync(dir)) continue;
        for (const name of fs.readdirSync(dir)) {
          const m = /^(\d+)\.conf$/.exec(name);
          if (m) out.push({ node, kind, vmid: Number(m[1]) });
        }
      }
    }
    return out.sort((a, b) => a.vmid - b.vmid);
  }

  find(vmid: number): GuestLocation | undefined {
    return this.all().find((g) => g.vmid === vmid);
  }

  /** Reads a guest; dies like Proxmox when the file is missing. */
  read(loc: GuestLocation): LoadedGuest {
    let raw: string;
    try {
      raw = fs.readFileSync(this.file(loc), 'utf8');
    } catch {
      throw plainError(`Configuration file '${this.relPath(loc)}' does not exist`);
    }
    const { config, warnings } = parseGuestConf(raw, loc.kind);
    return { ...loc, config, digest: confDigest(raw), warnings };
  }

  write(loc: GuestLocation, config: PveGuestConfig): void {
    const file = this.file(loc);
    const tmp = `${file}.tmp.${process.pid}`;
    fs.writeFileSync(tmp, writeGuestConf(config));
    fs.renameSync(tmp, file);
  }

  remove(loc: GuestLocation): void {
    fs.rmSync(this.file(loc), { force: true });
  }

  /** Dies `CT N already exists on node 'X'` (or `VM ...`) when the id is taken anywhere. */
  checkUnused(vmid: number): void {
    const taken = this.find(vmid);
    if (taken) throw plainError(`${taken.kind === 'lxc' ? 'CT' : 'VM'} ${vmid} already exists on node '${taken.node}'`);
  }

  /** Claims a VMID by writing a config holding `lock: create`, atomically with the uniqueness check. */
  claim(loc: GuestLocation, config: PveGuestConfig): Promise<void> {
    return this.exclusive(() => {
      this.checkUnused(loc.vmid);
      fs.writeFileSync(this.file(loc), writeGuestConf(config), { flag: 'wx' });
    });
  }

  /** Lowest free VMID in [100, 1000000). */
  nextId(): number {
    const used = new Set(this.all().map((g) => g.vmid));
    for (let id = 100; id < 1_000_000; id += 1) if (!used.has(id)) return id;
    throw plainError('unable to get any free VMID in range [100, 999999]');
  }
}
