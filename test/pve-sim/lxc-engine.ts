/**
 * The simulator's LXC engine: runs CTs with real LXC the way a Proxmox node
 * does. Start writes `<lxcPath>/<vmid>/config`, mounts rootfs and mount points
 * at `<lxcPath>/<vmid>/rootfs` (what the prestart hook does), launches
 * `lxc-start -F` detached in its own session with stdout discarded and stderr
 * in `<runDir>/ct-<vmid>.stderr` (what pve-container@.service does) and waits
 * for RUNNING. A post-stop hook and stop itself unmount everything again.
 */
import { spawn } from 'node:child_process';
import { chmod, chown, copyFile, lstat, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { execa } from 'execa';
import type { CtStartContext, PveGuestConfig, SimNodePaths } from './types.js';
import {
  detectHostLxcSupport,
  generateLxcConfig,
  isUnprivileged,
  parsePropertyString,
  type GeneratedLxcConfig,
  type LxcConfigContext,
} from './lxc-engine-config.js';
import { resolveInRoot } from './template.js';
import { isMountPoint, mountVolume, unmountTree, UNPRIVILEGED_ID_OFFSET } from './volumes.js';
import { writeNetUpHook } from './sim-netns.js';

export { detectHostLxcSupport, generateLxcConfig, parsePropertyString };
export type { GeneratedLxcConfig, HostLxcSupport, LxcConfigContext } from './lxc-engine-config.js';

/** What stop, status, exec and file transfer need to find a CT. */
export interface CtHostContext {
  node: SimNodePaths;
  log?: (line: string) => void;
}

export interface StopOptions {
  /** `kill`: `lxc-stop --kill`; `shutdown`: halt signal, then wait up to `timeout` seconds. */
  mode: 'kill' | 'shutdown';
  /** Seconds to wait for a shutdown (default 60, as pct shutdown). */
  timeout?: number;
  /** After a shutdown timeout, kill instead of failing. */
  forceStop?: boolean;
}

export interface CtStatus {
  running: boolean;
  /** Host PID of the CT's init while running. */
  pid?: number;
}

export interface StartOptions {
  /** A deadline for LXC to report STARTING (default 60 s, generous for a busy node); after that there is no limit. */
  startingTimeoutMs?: number;
}

const POLL_MS = 50;

function ctDir(node: SimNodePaths, vmid: number): string {
  return join(node.lxcPath, String(vmid));
}

function rootfsDir(node: SimNodePaths, vmid: number): string {
  return join(ctDir(node, vmid), 'rootfs');
}

function stderrFile(node: SimNodePaths, vmid: number): string {
  return join(node.runDir, `ct-${vmid}.stderr`);
}

function pidFile(node: SimNodePaths, vmid: number): string {
  return join(node.runDir, `ct-${vmid}.lxc-start.pid`);
}

/** argv for an LXC tool. LXC itself runs in the host's namespaces (only veth ends move out). */
function lxcArgv(_ctx: CtHostContext, argv: string[]): [string, string[]] {
  const [cmd, ...args] = argv as [string, ...string[]];
  return [cmd, args];
}

async function runLxc(ctx: CtHostContext, argv: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const [cmd, args] = lxcArgv(ctx, argv);
  const r = await execa(cmd, args, { reject: false, stdin: 'ignore' });
  return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** LXC state name (`RUNNING`, `STOPPED`, ...) as `lxc-info -s -H` prints it. */
async function lxcState(vmid: number, ctx: CtHostContext): Promise<string> {
  const r = await runLxc(ctx, ['lxc-info', '-n', String(vmid), '-P', ctx.node.lxcPath, '-s', '-H']);
  return r.exitCode === 0 ? r.stdout.trim() : 'STOPPED';
}

/** Whether LXC's command socket for the CT exists (list_active_containers' test). */
async function commandSocketExists(vmid: number, ctx: CtHostContext): Promise<boolean> {
  const name = `@${join(ctx.node.lxcPath, String(vmid))}/command`;
  const table = await readFile('/proc/net/unix', 'utf8');
  return table.split('\n').some((line) => line.endsWith(` ${name}`));
}

/** Running state and init PID, like `pct status` / API status/current. */
export async function ctStatus(vmid: number, ctx: CtHostContext): Promise<CtStatus> {
  if (!(await commandSocketExists(vmid, ctx))) return { running: false };
  const r = await runLxc(ctx, ['lxc-info', '-n', String(vmid), '-P', ctx.node.lxcPath, '-p', '-H']);
  const pid = Number(r.stdout.trim());
  if (r.exitCode !== 0 || !Number.isInteger(pid) || pid <= 0) return { running: false };
  return { running: true, pid };
}

function volumeHostPath(volume: string, ctx: CtStartContext, key: string): string {
  if (volume.startsWith('/')) return volume;
  try {
    return ctx.resolveVolume(volume);
  } catch (err) {
    throw new Error(`${key}: ${(err as Error).message}`);
  }
}

/** A mount point of the CT, resolved to host paths. */
interface MountSpec {
  key: string;
  source: string;
  /** Path inside the CT (`/` for rootfs). */
  mp: string;
  ro: boolean;
}

function mountSpecs(conf: PveGuestConfig, ctx: CtStartContext): MountSpec[] {
  const rootfs = conf.props.rootfs;
  if (rootfs === undefined || rootfs === '') throw new Error(`rootfs: property is missing in CT ${ctx.vmid}'s config`);
  const root = parsePropertyString(rootfs, 'volume');
  if (!root.volume) throw new Error(`rootfs: no volume in '${rootfs}'`);
  const specs: MountSpec[] = [{ key: 'rootfs', source: volumeHostPath(root.volume, ctx, 'rootfs'), mp: '/', ro: root.ro === '1' }];
  const mps = Object.keys(conf.props).filter((k) => /^mp\d+$/.test(k));
  for (const key of mps) {
    const mp = parsePropertyString(conf.props[key] ?? '', 'volume');
    if (!mp.volume) throw new Error(`${key}: no volume`);
    if (!mp.mp || !mp.mp.startsWith('/')) throw new Error(`${key}: mp must be an absolute path`);
    if (mp.mp.split('/').includes('..')) throw new Error(`${key}: mp must not contain '..'`);
    specs.push({ key, source: volumeHostPath(mp.volume, ctx, key), mp: mp.mp, ro: mp.ro === '1' });
  }
  // Parents before children, as the prestart hook mounts them.
  specs.sort((a, b) => a.mp.split('/').filter(Boolean).length - b.mp.split('/').filter(Boolean).length);
  return specs;
}

/** Mounts rootfs and mount points at `<lxcPath>/<vmid>/rootfs`, like the prestart hook. */
async function mountAll(specs: MountSpec[], rootfs: string, unprivileged: boolean): Promise<void> {
  const rootId = unprivileged ? UNPRIVILEGED_ID_OFFSET : 0;
  for (const spec of specs) {
    let target = rootfs;
    if (spec.mp !== '/') {
      target = await resolveInRoot(rootfs, spec.mp);
      if (relative(rootfs, target).startsWith('..')) throw new Error(`${spec.key}: mount point ${spec.mp} leaves the rootfs`);
      try {
        await lstat(target);
      } catch {
        await mkdir(target, { recursive: true });
        await chown(target, rootId, rootId);
      }
    }
    try {
      await mountVolume(spec.source, target, { ro: spec.ro });
    } catch (err) {
      throw new Error(`${spec.key}: unable to mount ${spec.source} at ${spec.mp}: ${(err as Error).message}`);
    }
  }
}

/** Mounts the CT's rootfs and mount points (`pct mount`); returns the rootfs path. */
export async function mountCt(conf: PveGuestConfig, ctx: CtStartContext): Promise<string> {
  const rootfs = rootfsDir(ctx.node, ctx.vmid);
  if (await isMountPoint(rootfs)) throw new Error(`CT ${ctx.vmid} is already mounted at ${rootfs}`);
  await mkdir(rootfs, { recursive: true, mode: 0o755 });
  try {
    await mountAll(mountSpecs(conf, ctx), rootfs, isUnprivileged(conf));
  } catch (err) {
    await unmountTree(rootfs);
    throw err;
  }
  return rootfs;
}

/** Unmounts everything at `<lxcPath>/<vmid>/rootfs` (`pct unmount`; a no-op when nothing is mounted). */
export async function unmountCt(vmid: number, ctx: CtHostContext): Promise<void> {
  await unmountTree(rootfsDir(ctx.node, vmid));
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The post-stop hook: unmounts the rootfs tree when the CT stops, whoever stopped it. */
async function writePostStopHook(dir: string, rootfs: string): Promise<string> {
  const hook = join(dir, 'post-stop-unmount');
  const script = [
    '#!/bin/sh',
    '# Installed by the Proxmox VE simulator: unmount what the start mounted.',
    `root=${shQuote(rootfs)}`,
    'while mountpoint -q "$root"; do umount -R "$root" || exit 1; done',
    '',
  ].join('\n');
  await writeFile(hook, script, { mode: 0o755 });
  return hook;
}

/** Everything the start writes before lxc-start runs, exported for tests of the generated config. */
export function buildLxcConfig(conf: PveGuestConfig, ctx: CtHostContext & { vmid: number; netns?: string }, postStopHook?: string, netUpHook?: string): GeneratedLxcConfig {
  const configCtx: LxcConfigContext = { lxcPath: ctx.node.lxcPath, support: detectHostLxcSupport() };
  if (ctx.netns !== undefined) {
    configCtx.netns = ctx.netns;
    if (netUpHook !== undefined) configCtx.netUpHook = netUpHook;
  }
  if (postStopHook !== undefined) configCtx.postStopHook = postStopHook;
  return generateLxcConfig(ctx.vmid, conf, configCtx);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether `pid` is still an lxc-start (guards against PID reuse). */
async function isLxcStart(pid: number): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('lxc-start');
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the CT: writes its LXC config, mounts its volumes, launches
 * `lxc-start -F` detached, waits for RUNNING. On failure the stderr file's
 * content and "startup for container '<vmid>' failed" are in the error.
 */
export async function startCt(conf: PveGuestConfig, ctx: CtStartContext, options: StartOptions = {}): Promise<void> {
  const { vmid, node } = ctx;
  if ((await ctStatus(vmid, ctx)).running) throw new Error(`CT ${vmid} already running`);
  const dir = ctDir(node, vmid);
  const rootfs = rootfsDir(node, vmid);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  await mkdir(node.runDir, { recursive: true });
  const hook = await writePostStopHook(dir, rootfs);
  const netUpHook = join(dir, 'net-up');
  if (ctx.netns !== undefined) writeNetUpHook(netUpHook);
  const generated = buildLxcConfig(conf, ctx, hook, netUpHook);
  for (const note of generated.notes) ctx.log(note);
  await writeFile(join(dir, 'config'), generated.text);
  if (await isMountPoint(rootfs)) await unmountTree(rootfs);
  await mountCt(conf, ctx);

  const errPath = stderrFile(node, vmid);
  const errFile = await open(errPath, 'w');
  let child;
  try {
    const [cmd, args] = lxcArgv(ctx, ['lxc-start', '-F', '-n', String(vmid), '-P', node.lxcPath]);
    child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'ignore', errFile.fd] });
  } finally {
    await errFile.close();
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  child.on('error', (err) => {
    exited = { code: 127, signal: null };
    ctx.log(`unable to run lxc-start: ${err.message}`);
  });
  if (child.pid !== undefined) await writeFile(pidFile(node, vmid), `${child.pid}\n`);
  child.unref();

  const fail = async (): Promise<never> => {
    let stderr = '';
    try {
      stderr = (await readFile(errPath, 'utf8')).trim();
    } catch {
      // nothing was written
    }
    if (stderr !== '') for (const line of stderr.split('\n')) ctx.log(line);
    await waitForExit(vmid, ctx, 60_000);
    await unmountTree(rootfs);
    throw new Error(`${stderr === '' ? '' : `${stderr}\n`}startup for container '${vmid}' failed`);
  };

  const startingDeadline = Date.now() + (options.startingTimeoutMs ?? 60_000);
  let sawStarting = false;
  for (;;) {
    const state = await lxcState(vmid, ctx);
    if (state === 'RUNNING') break;
    if (state === 'STARTING') sawStarting = true;
    if (state === 'ABORTING') return fail();
    if (exited !== undefined) {
      // lxc-start -F exits 0 only when the start worked (the CT may already have finished).
      if (exited.code === 0) break;
      return fail();
    }
    if ((state === 'STOPPING' || state === 'STOPPED') && sawStarting) {
      // Either a fast CT that ran and ended, or a failed start: lxc-start's status tells.
      await sleep(POLL_MS);
      continue;
    }
    if (!sawStarting && Date.now() > startingDeadline) {
      ctx.log(`timeout waiting for container ${vmid} to reach STARTING`);
      return fail();
    }
    await sleep(POLL_MS);
  }
}

/** Waits until the CT's lxc-start is gone (its pid file names it), then removes the pid file. */
async function waitForExit(vmid: number, ctx: CtHostContext, timeoutMs: number): Promise<void> {
  const path = pidFile(ctx.node, vmid);
  let pid: number;
  try {
    pid = Number((await readFile(path, 'utf8')).trim());
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (Number.isInteger(pid) && pid > 0 && processAlive(pid) && (await isLxcStart(pid))) {
    if (Date.now() > deadline) throw new Error(`lxc-start of CT ${vmid} (pid ${pid}) did not exit`);
    await sleep(POLL_MS);
  }
  await rm(path, { force: true });
}

/**
 * Stops the CT: `lxc-stop --kill`, or a shutdown with the CT's halt signal
 * (`lxc.signal.halt`) and a timeout (`forceStop` kills after it). Returns
 * once lxc-start is gone and nothing of the CT is mounted.
 */
export async function stopCt(vmid: number, ctx: CtHostContext, options: StopOptions): Promise<void> {
  const base = ['lxc-stop', '-n', String(vmid), '-P', ctx.node.lxcPath];
  if ((await ctStatus(vmid, ctx)).running) {
    if (options.mode === 'kill') {
      const r = await runLxc(ctx, [...base, '--kill']);
      if (r.exitCode !== 0 && (await ctStatus(vmid, ctx)).running) throw new Error(`unable to stop CT ${vmid}: ${r.stderr.trim()}`);
    } else {
      const timeout = options.timeout ?? 60;
      if (!Number.isInteger(timeout) || timeout < 0) throw new Error(`timeout: must be a non-negative integer, got '${timeout}'`);
      const r = await runLxc(ctx, [...base, '--nokill', '--timeout', String(timeout)]);
      if (r.exitCode !== 0 && (await ctStatus(vmid, ctx)).running) {
        if (!options.forceStop) throw new Error(`shutdown of CT ${vmid} timed out after ${timeout} seconds`);
        ctx.log?.(`shutdown timed out after ${timeout} s, killing CT ${vmid}`);
        const k = await runLxc(ctx, [...base, '--kill']);
        if (k.exitCode !== 0 && (await ctStatus(vmid, ctx)).running) throw new Error(`unable to stop CT ${vmid}: ${k.stderr.trim()}`);
      }
    }
  }
  await waitForExit(vmid, ctx, 30_000);
  await unmountTree(rootfsDir(ctx.node, vmid));
}

/** Exit code of a finished child the way a shell reports it (128+N for signal N). */
function exitStatus(exitCode: number | undefined, signal: string | undefined): number {
  if (signal !== undefined) {
    const n = osConstants.signals[signal as NodeJS.Signals];
    return 128 + (n ?? 0);
  }
  return exitCode ?? 1;
}

async function requireRunning(vmid: number, ctx: CtHostContext, message: string): Promise<number> {
  const status = await ctStatus(vmid, ctx);
  if (!status.running || status.pid === undefined) throw new Error(message);
  return status.pid;
}

/**
 * `pct exec`: runs `argv` in the CT through `lxc-attach` with this process's
 * stdio and returns its exit code (128+N when it died of signal N).
 */
export async function execInCt(vmid: number, argv: readonly string[], ctx: CtHostContext, options: { keepEnv?: boolean } = {}): Promise<number> {
  if (argv.length === 0) throw new Error('command: missing command to execute');
  await requireRunning(vmid, ctx, `container '${vmid}' not running!`);
  const env = { ...process.env };
  delete env.SSL_CERT_FILE;
  delete env.SSL_CERT_DIR;
  const [cmd, args] = lxcArgv(ctx, [
    'lxc-attach', '-n', String(vmid), '-P', ctx.node.lxcPath, options.keepEnv ? '--keep-env' : '--clear-env', '--', ...argv,
  ]);
  const r = await execa(cmd, args, { stdio: 'inherit', reject: false, env, extendEnv: false });
  return exitStatus(r.exitCode, r.signal);
}

/** Host uid/gid offset of a running CT (from its generated LXC config's id map). */
async function idOffset(vmid: number, ctx: CtHostContext): Promise<number> {
  const text = await readFile(join(ctDir(ctx.node, vmid), 'config'), 'utf8');
  const m = /^lxc\.idmap\s*=\s*u\s+0\s+(\d+)\s+\d+\s*$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

export interface PushOptions {
  /** Owner inside the CT (default 0). */
  user?: number;
  group?: number;
  /** File mode (default 0o644). */
  perms?: number;
}

/** `pct push`: copies a host file into the running CT, owned by user/group as seen inside it. */
export async function pushFile(vmid: number, ctx: CtHostContext, source: string, dest: string, options: PushOptions = {}): Promise<void> {
  const pid = await requireRunning(vmid, ctx, 'can only push files to a running CT');
  if (!dest.startsWith('/')) throw new Error(`destination: '${dest}' must be an absolute path`);
  const root = `/proc/${pid}/root`;
  const target = await resolveInRoot(root, dest);
  const parent = dirname(target);
  try {
    if (!(await lstat(parent)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new Error(`destination: directory '${dirname(dest)}' does not exist in CT ${vmid}`);
  }
  const offset = await idOffset(vmid, ctx);
  await copyFile(source, target);
  await chown(target, offset + (options.user ?? 0), offset + (options.group ?? 0));
  await chmod(target, options.perms ?? 0o644);
}

/** `pct pull`: copies a file out of the running CT to the host. */
export async function pullFile(vmid: number, ctx: CtHostContext, source: string, dest: string): Promise<void> {
  const pid = await requireRunning(vmid, ctx, 'can only pull files from a running CT');
  if (!source.startsWith('/')) throw new Error(`path: '${source}' must be an absolute path`);
  const from = await resolveInRoot(`/proc/${pid}/root`, source);
  try {
    if (!(await lstat(from)).isFile()) throw new Error('not a file');
  } catch {
    throw new Error(`path: '${source}' is not a file in CT ${vmid}`);
  }
  await copyFile(from, dest);
}
