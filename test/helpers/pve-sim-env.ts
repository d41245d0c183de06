/**
 * A Proxmox VE simulator for proxmox-lxc tests: started in a temp dir of its own, with a proxrun
 * config file pointing at it (CLI transport, the node's binDir, lxcPath and pveDir from sim.json,
 * storage `local`, the caller's VMID range). `PROXRUN_CONFIG` names that file; set it in the
 * environment of proxrun and of anything that runs proxrun (containerd and its shims, podman).
 * `stop()` destroys every CT the simulator still has in the range, stops the simulator and removes
 * the temp dir, and reports what it had to destroy.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './proxrun.js';

export interface SimNodeInfo {
  readonly binDir: string;
  readonly lxcPath: string;
}

export interface PveSimEnv {
  readonly root: string;
  readonly node: string;
  readonly nodeInfo: SimNodeInfo;
  readonly pveDir: string;
  readonly configFile: string;
  readonly vmidRange: readonly [number, number];
  /** Runs a node tool (pct, pvesm, pvesh) of the simulated node. */
  tool(name: string, args: readonly string[]): { code: number; stdout: string; stderr: string };
  /** VMIDs of the CTs whose config exists on the node. */
  ctVmids(): number[];
  /** Container folders LXC has under the node's lxcPath. */
  lxcContainers(): string[];
  /** Template files on the node's `local` storage. */
  templates(): string[];
  /** Rootfs volumes (images/<vmid>/...) on the node's `local` storage. */
  volumes(): string[];
  stop(): Promise<{ destroyed: number[] }>;
}

const MONITOR_BASE = '/run/proxrun/ct';
const SIM_SCRIPT = path.join(REPO_ROOT, 'scripts/pve-sim');

export async function startPveSimEnv(options: { vmidRange: readonly [number, number]; node?: string }): Promise<PveSimEnv> {
  const node = options.node ?? 'pve1';
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-pve-lxc-'));
  fs.chmodSync(root, 0o755);
  try {
    execFileSync(SIM_SCRIPT, ['start', '--root', root, '--nodes', node, '--auth-delay-ms', '300'], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (err) {
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const info = JSON.parse(fs.readFileSync(path.join(root, 'sim.json'), 'utf8')) as { pveDir: string; nodes: Record<string, SimNodeInfo> };
  const nodeInfo = info.nodes[node];
  if (nodeInfo === undefined) throw new Error(`sim.json has no node ${node}`);
  const configFile = path.join(root, 'proxrun-config.json');
  fs.writeFileSync(configFile, JSON.stringify({
    defaultBackend: 'proxmox-lxc',
    proxmox: {
      transport: 'cli',
      node,
      storage: 'local',
      templateStorage: 'local',
      cliPath: nodeInfo.binDir,
      lxcPath: nodeInfo.lxcPath,
      pveDir: info.pveDir,
      vmidRange: [...options.vmidRange],
    },
  }, null, 2));
  const storageDir = path.join(root, 'nodes', node, 'var-lib-vz');

  const tool = (name: string, args: readonly string[]): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync(path.join(nodeInfo.binDir, name), args, { encoding: 'utf8' });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const listDir = (dir: string): string[] => {
    try {
      return fs.readdirSync(dir).sort();
    } catch {
      return [];
    }
  };
  const ctVmids = (): number[] =>
    listDir(path.join(info.pveDir, 'nodes', node, 'lxc')).filter((n) => /^\d+\.conf$/.test(n)).map((n) => Number.parseInt(n, 10));

  let stopped: Promise<{ destroyed: number[] }> | undefined;
  const stop = async (): Promise<{ destroyed: number[] }> => {
    const destroyed: number[] = [];
    for (const vmid of ctVmids()) {
      if (vmid < options.vmidRange[0] || vmid > options.vmidRange[1]) continue;
      destroyed.push(vmid);
      tool('pct', ['destroy', String(vmid), '--force', '1', '--purge', '1']);
    }
    // Monitor folders of destroyed CTs (named <vmid>-<hash> by the backend).
    for (const name of listDir(MONITOR_BASE)) {
      if (destroyed.includes(Number.parseInt(name, 10))) fs.rmSync(path.join(MONITOR_BASE, name), { recursive: true, force: true });
    }
    execFileSync(SIM_SCRIPT, ['stop', '--root', root], { stdio: ['ignore', 'ignore', 'inherit'] });
    fs.rmSync(root, { recursive: true, force: true });
    return { destroyed };
  };

  return {
    root,
    node,
    nodeInfo,
    pveDir: info.pveDir,
    configFile,
    vmidRange: options.vmidRange,
    tool,
    ctVmids,
    lxcContainers: () => listDir(nodeInfo.lxcPath).filter((n) => /^\d+$/.test(n)),
    templates: () => listDir(path.join(storageDir, 'template', 'cache')),
    volumes: () => listDir(path.join(storageDir, 'images')).flatMap((vmid) => listDir(path.join(storageDir, 'images', vmid)).map((f) => `${vmid}/${f}`)),
    stop: () => {
      stopped ??= stop();
      return stopped;
    },
  };
}
