/**
 * Running VMs with real QEMU, as qemu-server does: the command line from the config
 * (qemu-cmdline.ts), `-daemonize` with a pidfile in the node's qemu-server run folder, QMP for
 * `quit`, `system_powerdown` and `query-status`, a VM counted as running while the pidfile's process
 * is a QEMU started with that pidfile. A VM that powers itself off ends its QEMU; a watcher then
 * removes the pidfile and sockets (qmeventd's cleanup on a node).
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import type { SimNodePaths } from './types.js';
import { buildVmCmdline, virtiofsShares, vmRunPaths, type Accel } from './qemu-cmdline.js';
import { chooseAccel } from './qemu-accel.js';
import { qmpCommand } from './qemu-qmp.js';
import { startVirtiofsd, stopVirtiofsds } from './qemu-virtiofsd.js';

export const QEMU_BINARY = 'qemu-system-x86_64';

export interface VmState {
  running: boolean;
  pid?: number;
}

export interface VmStartJob {
  node: SimNodePaths;
  vmid: number;
  props: Readonly<Record<string, string>>;
  resolveVolume: (volid: string) => string;
  /** The host directory of a directory mapping on this node (`virtiofsN`); throws when there is none. */
  resolveDirMapping: (id: string) => string;
  log: (line: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The pid of a process whose command line is QEMU with `-pidfile pidfile`, else undefined. */
function qemuPidFrom(pidfile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const i = argv.indexOf('-pidfile');
    if (!(argv[0] ?? '').includes('qemu-system') || i < 0 || argv[i + 1] !== pidfile) return undefined;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return undefined;
    return pid;
  } catch {
    return undefined;
  }
}

/** Removes what a stopped VM leaves in the run folder: pidfile, QMP, VNC, agent and serial sockets. */
export function cleanupVmRun(node: SimNodePaths, vmid: number): void {
  const run = vmRunPaths(node.qemuRunDir, vmid);
  for (const f of [run.pid, run.qmp, run.vnc, run.qga, run.serial(0), run.serial(1), run.serial(2), run.serial(3)]) fs.rmSync(f, { force: true });
  stopVirtiofsds(node, vmid);
}

export function vmState(node: SimNodePaths, vmid: number): VmState {
  const pid = qemuPidFrom(vmRunPaths(node.qemuRunDir, vmid).pid);
  return pid === undefined ? { running: false } : { running: true, pid };
}

/** `query-status` of a running VM (`running`, `paused`, `shutdown`, ...), or `stopped`. */
export async function vmQmpStatus(node: SimNodePaths, vmid: number): Promise<string> {
  if (!vmState(node, vmid).running) return 'stopped';
  try {
    // A deadline for QEMU's answer, generous for a busy host (an idle one answers in milliseconds).
    const r = (await qmpCommand(vmRunPaths(node.qemuRunDir, vmid).qmp, 'query-status', undefined, 10_000)) as { status?: string } | null;
    return r?.status ?? 'unknown';
  } catch {
    return vmState(node, vmid).running ? 'unknown' : 'stopped';
  }
}

const watchers = new Map<string, NodeJS.Timeout>();

/** Watches the QEMU process; once it is gone, cleans up its run files. */
function watch(node: SimNodePaths, vmid: number): void {
  const key = `${node.node}/${vmid}`;
  clearInterval(watchers.get(key));
  const timer = setInterval(() => {
    if (vmState(node, vmid).running) return;
    clearInterval(timer);
    watchers.delete(key);
    cleanupVmRun(node, vmid);
  }, 250);
  timer.unref();
  watchers.set(key, timer);
}

/** Starts the VM in the background; resolves once QEMU has daemonized (its pidfile written). */
export async function startVm(job: VmStartJob): Promise<number> {
  const { node, vmid } = job;
  let accel: Accel;
  if (/^(0|no|off|false)$/i.test(job.props['kvm'] ?? '1')) {
    accel = 'tcg';
    job.log('KVM disabled in the VM config (kvm: 0): using TCG (software emulation)');
  } else {
    const choice = await chooseAccel();
    accel = choice.accel;
    job.log(choice.reason);
  }
  const args = buildVmCmdline({ vmid, props: job.props, qemuRunDir: node.qemuRunDir, accel, resolveVolume: job.resolveVolume });
  fs.mkdirSync(node.qemuRunDir, { recursive: true });
  cleanupVmRun(node, vmid);
  const shares = virtiofsShares(job.props).map((share) => ({ index: share.index, cache: share.cache, directory: job.resolveDirMapping(share.dirid) }));
  for (const share of shares) await startVirtiofsd(node, vmid, share, job.log);
  const child = spawn(QEMU_BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, cwd: '/' });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const code = await new Promise<number>((resolve) => {
    child.on('error', (err) => {
      stderr += err.message;
      resolve(-1);
    });
    child.on('exit', (c, signal) => resolve(c ?? (signal !== null ? 128 : -1)));
  });
  child.stderr.destroy();
  for (const line of stderr.split('\n').filter((l) => l.trim() !== '')) job.log(line);
  if (code !== 0) {
    cleanupVmRun(node, vmid);
    throw new Error(`start failed: QEMU exited with code ${code}`);
  }
  const pid = qemuPidFrom(vmRunPaths(node.qemuRunDir, vmid).pid);
  if (pid === undefined) {
    cleanupVmRun(node, vmid);
    throw new Error('start failed: QEMU exited right after starting');
  }
  watch(node, vmid);
  return pid;
}

async function waitGone(node: SimNodePaths, vmid: number, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (vmState(node, vmid).running) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

function signal(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** SIGTERM, 10 s, then SIGKILL, with qemu-server's log lines. */
async function terminate(node: SimNodePaths, vmid: number, log: (l: string) => void, firstLine: string): Promise<void> {
  log(firstLine);
  signal(vmState(node, vmid).pid, 'SIGTERM');
  if (await waitGone(node, vmid, 10)) return;
  log('VM still running - terminating now with SIGKILL');
  signal(vmState(node, vmid).pid, 'SIGKILL');
  if (!(await waitGone(node, vmid, 5))) throw new Error('VM still running after SIGKILL');
}

/**
 * Stop (`quit`) or shutdown (`system_powerdown`), then wait `timeoutS`. On timeout a stop, or a
 * shutdown with forceStop, terminates QEMU; a shutdown without it fails. A stopped VM is left alone.
 */
export async function stopVm(node: SimNodePaths, vmid: number, opts: { shutdown: boolean; timeoutS: number; force: boolean; log: (l: string) => void }): Promise<void> {
  if (!vmState(node, vmid).running) {
    cleanupVmRun(node, vmid);
    return;
  }
  const qmp = vmRunPaths(node.qemuRunDir, vmid).qmp;
  let sent = true;
  try {
    await qmpCommand(qmp, opts.shutdown ? 'system_powerdown' : 'quit');
  } catch (err) {
    sent = false;
    opts.log(`unable to send ${opts.shutdown ? 'system_powerdown' : 'quit'}: ${(err as Error).message}`);
  }
  if (sent && (await waitGone(node, vmid, opts.timeoutS))) {
    cleanupVmRun(node, vmid);
    return;
  }
  if (!opts.force) throw new Error(sent ? 'VM quit/powerdown failed - got timeout' : 'VM quit/powerdown failed');
  await terminate(node, vmid, opts.log, sent ? 'VM still running - terminating now with SIGTERM' : 'VM quit/powerdown failed - terminating now with SIGTERM');
  cleanupVmRun(node, vmid);
}

/** Ends every VM of the given nodes (simulator stop): `quit`, then signals; removes their run files. */
export async function stopAllVms(nodes: readonly SimNodePaths[], log: (l: string) => void): Promise<void> {
  for (const node of nodes) {
    if (!fs.existsSync(node.qemuRunDir)) continue;
    const vmids = new Set(fs.readdirSync(node.qemuRunDir).map((f) => /^(\d+)\./.exec(f)?.[1]).filter((v): v is string => v !== undefined));
    for (const v of vmids) {
      const vmid = Number(v);
      await stopVm(node, vmid, { shutdown: false, timeoutS: 3, force: true, log });
      cleanupVmRun(node, vmid);
    }
  }
  for (const t of watchers.values()) clearInterval(t);
  watchers.clear();
}
