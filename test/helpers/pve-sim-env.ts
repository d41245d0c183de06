/**
 * A Proxmox VE simulator for proxmox-lxc tests: started in a temp dir of its own, with a proxrun
 * config file pointing at it (the node's binDir, lxcPath and pveDir from sim.json, storage `local`,
 * the caller's VMID range; CLI transport unless `transport: 'api'`, which adds apiUrl, tokenId,
 * the fingerprint and a 0600 token secret file in a 0700 folder). The cluster's `storage.cfg` is written into the
 * simulated /etc/pve (as every Proxmox node has it) when the simulator has none, so the API
 * transport can locate volumes without `pvesm`. `PROXRUN_CONFIG` names that file; set it in the
 * environment of proxrun and of anything that runs proxrun (containerd and its shims, podman).
 * `stop()` destroys every CT the simulator still has in the range, stops the simulator and removes
 * the temp dir, and reports what it had to destroy.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROXRUN_BIN, REPO_ROOT } from './proxrun.js';

export interface SimNodeInfo {
  readonly binDir: string;
  readonly lxcPath: string;
}

interface SimJson {
  pveDir: string;
  apiUrl: string;
  tokenId: string;
  tokenSecret: string;
  fingerprint: string;
  nodes: Record<string, SimNodeInfo>;
}

export interface PveSimEnv {
  readonly root: string;
  readonly node: string;
  readonly nodeInfo: SimNodeInfo;
  readonly pveDir: string;
  readonly configFile: string;
  readonly vmidRange: readonly [number, number];
  /** The API token secret (for tests that check it never leaks). */
  readonly tokenSecret: string;
  /** Writes another proxrun config next to the default one, with `proxmox` keys replaced; returns its path. */
  writeConfig(name: string, proxmox: Readonly<Record<string, unknown>>, top?: Readonly<Record<string, unknown>>): string;
  /** `scripts/pve-sim fault` with these arguments (e.g. `--match`, `--mode`); `clearFaults()` removes them all. */
  fault(args: readonly string[]): void;
  clearFaults(): void;
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

import { MONITOR_BASE } from '../../src/backends/proxmox-lxc/monitor/monitor-location.js';

const SIM_SCRIPT = path.join(REPO_ROOT, 'scripts/pve-sim');

export interface PveSimEnvOptions {
  vmidRange: readonly [number, number];
  node?: string;
  transport?: 'cli' | 'api';
  rootfsDelivery?: 'directory' | 'archive';
  timeoutSeconds?: number;
}

export async function startPveSimEnv(options: PveSimEnvOptions): Promise<PveSimEnv> {
  const node = options.node ?? 'pve1';
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-pve-lxc-'));
  fs.chmodSync(root, 0o755);
  try {
    execFileSync(SIM_SCRIPT, ['start', '--root', root, '--nodes', node, '--auth-delay-ms', '300'], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (err) {
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const info = JSON.parse(fs.readFileSync(path.join(root, 'sim.json'), 'utf8')) as SimJson;
  const nodeInfo = info.nodes[node];
  if (nodeInfo === undefined) throw new Error(`sim.json has no node ${node}`);
  const storageDir = path.join(root, 'nodes', node, 'var-lib-vz');
  const storageCfg = path.join(info.pveDir, 'storage.cfg');
  if (!fs.existsSync(storageCfg)) {
    fs.writeFileSync(storageCfg, `dir: local\n\tpath ${storageDir}\n\tcontent vztmpl,rootdir,images,iso,snippets,import\n`);
  }
  // proxrun takes a token file only from a folder that gives group and others no access.
  const secretDir = path.join(root, 'secret');
  fs.mkdirSync(secretDir, { mode: 0o700 });
  const secretFile = path.join(secretDir, 'proxrun-token');
  fs.writeFileSync(secretFile, `${info.tokenSecret}\n`, { mode: 0o600 });
  const baseProxmox: Record<string, unknown> = {
    transport: options.transport ?? 'cli',
    node,
    storage: 'local',
    templateStorage: 'local',
    cliPath: nodeInfo.binDir,
    lxcPath: nodeInfo.lxcPath,
    pveDir: info.pveDir,
    vmidRange: [...options.vmidRange],
    ...(options.rootfsDelivery !== undefined ? { rootfsDelivery: options.rootfsDelivery } : {}),
    ...(options.timeoutSeconds !== undefined ? { timeoutSeconds: options.timeoutSeconds } : {}),
    ...(options.transport === 'api' ? { apiUrl: info.apiUrl, tokenId: info.tokenId, tokenSecretFile: secretFile, fingerprint: info.fingerprint } : {}),
  };
  const writeConfig = (name: string, proxmox: Readonly<Record<string, unknown>>, top: Readonly<Record<string, unknown>> = {}): string => {
    const file = path.join(root, name);
    fs.writeFileSync(file, JSON.stringify({ defaultBackend: 'proxmox-lxc', ...top, proxmox: { ...baseProxmox, ...proxmox } }, null, 2));
    return file;
  };
  const configFile = writeConfig('proxrun-config.json', {});
  const control = (args: readonly string[]): void => {
    execFileSync(SIM_SCRIPT, ['fault', '--root', root, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  };

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
    control(['--clear']);
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
    tokenSecret: info.tokenSecret,
    writeConfig,
    fault: control,
    clearFaults: () => control(['--clear']),
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

export interface DetachedResult {
  exitCode: number | null;
  stdoutFile: string;
  stderrFile: string;
}

/**
 * Runs proxrun with stdout/stderr on files in `dir` and waits for proxrun itself, not for the
 * monitor it leaves behind (which inherits those files, as it inherits a shim's pipes).
 */
export function proxrunToFiles(root: string, args: readonly string[], dir: string, env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<DetachedResult> {
  const stdoutFile = path.join(dir, 'stdout');
  const stderrFile = path.join(dir, 'stderr');
  const out = fs.openSync(stdoutFile, 'w');
  const err = fs.openSync(stderrFile, 'w');
  try {
    const child = spawn(PROXRUN_BIN, ['--root', root, ...args], { stdio: ['ignore', out, err], env });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`proxrun ${args.join(' ')} did not exit within ${timeoutMs} ms`));
      }, timeoutMs);
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ exitCode: code, stdoutFile, stderrFile });
      });
    });
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
  }
}

/** Monitor folders under MONITOR_BASE for `vmid` (named `<vmid>-<hash>`). */
export function monitorDirsOf(vmid: number): string[] {
  try {
    return fs.readdirSync(MONITOR_BASE).filter((n) => n.startsWith(`${vmid}-`)).map((n) => path.join(MONITOR_BASE, n));
  } catch {
    return [];
  }
}

/** The exit status the monitor of `vmid` recorded, once it has. */
export function recordedExitStatus(vmid: number): number | undefined {
  for (const dir of monitorDirsOf(vmid)) {
    try {
      const text = fs.readFileSync(path.join(dir, 'exit-status'), 'utf8').trim();
      if (/^\d+$/.test(text)) return Number(text);
    } catch {
      // not yet
    }
  }
  return undefined;
}
