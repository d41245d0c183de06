/**
 * A private containerd with its CRI plugin on, for Kubernetes-style tests without a kubelet:
 * its own config, root, state, socket and runtime roots in one temp dir, running inside a
 * network namespace the harness makes (`ip netns add`, entered with `nsenter --net`), with a
 * CNI bridge network (Debian's containernetworking-plugins: bridge, host-local, loopback; no
 * gateway, no masquerading) whose address leases live in the temp dir too. Each runtime handler
 * is the runc shim with a `BinaryName`, as docs/kubernetes.md configures proxrun. Pod network
 * namespaces are pinned under containerd's state dir (`netns_mounts_under_state_dir`), not in
 * /run/netns. Images come from a local OCI archive (`ctr -n k8s.io images import`): no registry.
 *
 * `stop()` removes every pod still there through CRI, stops containerd, kills what is left of its
 * shims and containers, unmounts, deletes the network namespace and the temp dir, and reports
 * what it had to clean, so a test can insist that it had left nothing.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hiddenCgroup2Argv } from '../cgroup.js';
import { isAlive, killProcessesMentioning, mountsUnder, noteNetnsInRunLedger, processesMentioning, removeDir, stopProcess, unmountUnder } from '../cleanup.js';
import { describeResult, pollFor, runChecked, runCommand, startCommand } from '../exec.js';
import { CriClient } from './client.js';

/** The containerd namespace the CRI plugin uses: runtimes get `--root <Root>/k8s.io`. */
export const CRI_NAMESPACE = 'k8s.io';
/** The CNI network's name; host-local keeps its leases in `<leases>/<name>/`. */
export const CNI_NETWORK = 'proxrun-cri';
/** The bridge CNI makes, inside containerd's network namespace. */
export const CNI_BRIDGE = 'cni-proxrun0';

export interface CriRuntimeHandler {
  /** The handler's name: the `runtimes.<name>` table and RunPodSandbox's `runtime_handler`. */
  readonly name: string;
  /** `options.BinaryName`: the runc-compatible binary the shim calls (absolute path). */
  readonly binary: string;
  /** `pod_annotations` / `container_annotations`: which pod and container annotations reach config.json. */
  readonly passAnnotations?: readonly string[];
}

export interface StartCriContainerdOptions {
  readonly handlers: readonly CriRuntimeHandler[];
  /** The sandbox (pause) image; it must be imported before the first RunPodSandbox. */
  readonly sandboxImage: string;
  /** Start containerd (so its shims and runtimes) with the cgroup v2 mount hidden, for crun on hybrid hosts. */
  readonly hideCgroup2?: boolean;
  /** The pod subnet. It exists only inside the harness's network namespace. */
  readonly subnet?: string;
  /** Extra environment for containerd and so for its shims and runtimes (e.g. PROXRUN_CONFIG). */
  readonly env?: Readonly<Record<string, string>>;
  readonly startTimeoutMs?: number;
}

/** What `stop()` found still there and had to remove; every list empty after a clean test. */
export interface CriCleanupReport {
  readonly pods: readonly string[];
  readonly processes: readonly string[];
  readonly mounts: readonly string[];
  readonly leases: readonly string[];
  readonly runtimeState: readonly string[];
}

export interface CriContainerd {
  readonly dir: string;
  /** containerd's gRPC socket (CRI and ctr both use it). */
  readonly address: string;
  readonly pid: number;
  /** The network namespace containerd runs in (`/run/netns/<netns>`). */
  readonly netns: string;
  /** containerd's state dir; pod network namespaces are pinned in `<state>/netns/`. */
  readonly stateDir: string;
  /** host-local's lease folder for the network: one file per allocated address. */
  readonly leaseDir: string;
  readonly cri: CriClient;
  /** The `--root` the named handler's runtime gets: `<options.Root>/k8s.io`. */
  runtimeRoot(handler: string): string;
  /** A fresh folder for a pod's `log_directory`. */
  podLogDir(name: string): Promise<string>;
  /** `ctr -n k8s.io images import ARCHIVE`, then waits until the CRI plugin knows `ref`. */
  importImage(archive: string, ref: string): Promise<void>;
  /** Mount points at or under `dir` as containerd sees them (its mount namespace may be its own). */
  mountsUnder(dir: string): Promise<string[]>;
  /** Addresses host-local has leased on the network right now. */
  leases(): string[];
  /** containerd's stderr so far, for failure messages. */
  log(): string;
  stop(): Promise<CriCleanupReport>;
}

function configToml(dir: string, address: string, options: StartCriContainerdOptions): string {
  const quote = (value: string): string => JSON.stringify(value);
  const list = (values: readonly string[]): string => `[${values.map(quote).join(', ')}]`;
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  const lines = [
    'version = 2',
    `root = ${quote(path.join(dir, 'root'))}`,
    `state = ${quote(path.join(dir, 'state'))}`,
    'disabled_plugins = [',
    '  "io.containerd.snapshotter.v1.btrfs",',
    '  "io.containerd.snapshotter.v1.zfs",',
    '  "io.containerd.snapshotter.v1.aufs",',
    '  "io.containerd.snapshotter.v1.devmapper",',
    ']',
    '[grpc]',
    `  address = ${quote(address)}`,
    '[ttrpc]',
    `  address = ${quote(`${address}.ttrpc`)}`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${quote(path.join(dir, 'opt'))}`,
    `[${cri}]`,
    `  sandbox_image = ${quote(options.sandboxImage)}`,
    '  restrict_oom_score_adj = true',
    '  netns_mounts_under_state_dir = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `[${cri}.cni]`,
    '  bin_dir = "/usr/lib/cni"',
    `  conf_dir = ${quote(path.join(dir, 'cni-conf'))}`,
    '  max_conf_num = 1',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    `  default_runtime_name = ${quote(options.handlers[0]?.name ?? 'runc')}`,
  ];
  for (const handler of options.handlers) {
    const table = `${cri}.containerd.runtimes.${handler.name}`;
    lines.push(
      `[${table}]`,
      '  runtime_type = "io.containerd.runc.v2"',
      `  pod_annotations = ${list(handler.passAnnotations ?? [])}`,
      `  container_annotations = ${list(handler.passAnnotations ?? [])}`,
      `[${table}.options]`,
      `  BinaryName = ${quote(handler.binary)}`,
      `  Root = ${quote(path.join(dir, 'runtime-roots', handler.name))}`,
    );
  }
  lines.push('');
  return lines.join('\n');
}

function cniConfig(leaseRoot: string, subnet: string): string {
  return `${JSON.stringify({
    cniVersion: '1.0.0',
    name: CNI_NETWORK,
    plugins: [{
      type: 'bridge',
      bridge: CNI_BRIDGE,
      isGateway: false,
      ipMasq: false,
      ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: leaseRoot },
    }],
  }, null, 2)}\n`;
}

/** Files of host-local's lease folder that name an allocated address (not its lock or cursor). */
function leasedAddresses(leaseDir: string): string[] {
  if (!existsSync(leaseDir)) return [];
  return readdirSync(leaseDir).filter((name) => /^[0-9a-f.:]+$/i.test(name) && (name.includes('.') || name.includes(':')));
}

/** The folders a runtime keeps per container under its root (proxrun's lock folder is not one). */
function runtimeEntries(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((name) => name !== '@locks');
}

/** Starts containerd with the CRI plugin in a network namespace of its own; resolves once CRI answers. */
export async function startCriContainerd(options: StartCriContainerdOptions): Promise<CriContainerd> {
  if (options.handlers.length === 0) throw new Error('startCriContainerd: no runtime handler');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'proxrun-cri-'));
  const address = path.join(dir, 'containerd.sock');
  const stateDir = path.join(dir, 'state');
  const leaseRoot = path.join(dir, 'cni-leases');
  const leaseDir = path.join(leaseRoot, CNI_NETWORK);
  const netns = `proxrun-cri-${process.pid}-${path.basename(dir).slice(-6)}`;
  await Promise.all([
    mkdir(path.join(dir, 'cni-conf')),
    mkdir(path.join(dir, 'pod-logs')),
    mkdir(leaseRoot),
    ...options.handlers.map((handler) => mkdir(path.join(dir, 'runtime-roots', handler.name), { recursive: true })),
  ]);
  const configPath = path.join(dir, 'config.toml');
  await writeFile(configPath, configToml(dir, address, options));
  await writeFile(path.join(dir, 'cni-conf', '10-proxrun-cri.conflist'), cniConfig(leaseRoot, options.subnet ?? '10.88.7.0/24'));

  const runtimeRoot = (handler: string): string => path.join(dir, 'runtime-roots', handler, CRI_NAMESPACE);
  let netnsMade = false;
  let daemon: ReturnType<typeof startCommand> | undefined;
  let cri: CriClient | undefined;

  const stopAll = async (): Promise<CriCleanupReport> => {
    const pods: string[] = [];
    if (cri !== undefined && daemon !== undefined && (await isAlive(daemon.pid))) {
      try {
        for (const pod of await cri.listPodSandboxes()) {
          pods.push(`${pod.id} ${pod.metadata.namespace}/${pod.metadata.name}`);
          await cri.stopPodSandbox(pod.id).catch(() => undefined);
          await cri.removePodSandbox(pod.id).catch(() => undefined);
        }
      } catch { /* containerd no longer answers: the sweep below still runs */ }
      // A removed pod's shim exits on its own shortly after; give it that time before counting leftovers.
      const shimsLeft = async (): Promise<boolean> =>
        (await processesMentioning(address)).some((proc) => (proc.argv[0] ?? '').includes('containerd-shim'));
      if (pods.length > 0) {
        await pollFor(async () => ((await shimsLeft()) ? undefined : true), {
          timeoutMs: 60_000, intervalMs: 100, description: 'the removed pods\' shims to exit',
        }).catch(() => undefined);
      }
    }
    cri?.close();
    // A private mount namespace (hideCgroup2) is visible only through containerd's own /proc entry.
    let mounts: string[] = [];
    if (daemon !== undefined && (await isAlive(daemon.pid))) {
      mounts = await mountsUnder(dir, `/proc/${daemon.pid}/mountinfo`).catch(() => []);
      await stopProcess(daemon.pid, 'SIGTERM', 10_000);
    }
    if (daemon !== undefined) await daemon.finished;
    const processes = (await processesMentioning(dir)).map((proc) => `${proc.pid} ${proc.argv.join(' ')}`);
    await killProcessesMentioning(dir);
    mounts = [...new Set([...mounts, ...(await mountsUnder(dir))])];
    await unmountUnder(dir);
    const leases = leasedAddresses(leaseDir);
    const runtimeState = options.handlers.flatMap((handler) => runtimeEntries(runtimeRoot(handler.name)).map((entry) => `${handler.name}: ${entry}`));
    if (netnsMade) await runCommand(['ip', 'netns', 'delete', netns], { timeoutMs: 10_000 });
    await removeDir(dir);
    return { pods, processes, mounts, leases, runtimeState };
  };

  try {
    // Recorded before it is made: stopAll deletes it whatever happens next.
    netnsMade = true;
    noteNetnsInRunLedger(netns);
    await runChecked(['ip', 'netns', 'add', netns], { timeoutMs: 10_000 });
    // The stream server (exec, attach) listens on 127.0.0.1 inside the namespace.
    await runChecked(['nsenter', `--net=/run/netns/${netns}`, '--', 'ip', 'link', 'set', 'lo', 'up'], { timeoutMs: 10_000 });
    const containerdArgv = ['containerd', '--config', configPath, '--log-level', 'warn'];
    daemon = startCommand(
      ['nsenter', `--net=/run/netns/${netns}`, '--', ...(options.hideCgroup2 ? hiddenCgroup2Argv(containerdArgv) : containerdArgv)],
      { timeoutMs: 24 * 3600_000, env: { ...process.env, ...(options.env ?? {}) } },
    );
    const started = daemon;
    cri = new CriClient(address);
    const client = cri;
    await pollFor(async () => {
      if (!(await isAlive(started.pid))) {
        throw new Error(`containerd exited early:\n${describeResult(await started.finished)}`);
      }
      if (!existsSync(address)) return undefined;
      await client.version();
      return true;
    }, { timeoutMs: options.startTimeoutMs ?? 60_000, intervalMs: 200, description: 'containerd\'s CRI plugin to answer Version' });
  } catch (error) {
    const log = daemon?.stderrSoFar() ?? '';
    await stopAll();
    throw new Error(`${(error as Error).message}\ncontainerd log:\n${log}`);
  }

  const running = daemon;
  const client = cri;
  let stopped: Promise<CriCleanupReport> | undefined;
  return {
    dir,
    address,
    pid: running.pid,
    netns,
    stateDir,
    leaseDir,
    cri: client,
    runtimeRoot,
    podLogDir: async (name: string) => {
      const logDir = path.join(dir, 'pod-logs', name);
      await mkdir(logDir, { recursive: true });
      return logDir;
    },
    importImage: async (archive: string, ref: string) => {
      await runChecked(['ctr', '-a', address, '-n', CRI_NAMESPACE, 'images', 'import', archive], { timeoutMs: 120_000 });
      await pollFor(async () => ((await client.imageStatus(ref)) !== null ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 100,
        description: `the CRI plugin to know image ${ref}`,
      });
    },
    mountsUnder: (under: string) => mountsUnder(under, `/proc/${running.pid}/mountinfo`),
    leases: () => leasedAddresses(leaseDir),
    log: () => running.stderrSoFar(),
    stop: () => {
      stopped ??= stopAll();
      return stopped;
    },
  };
}
