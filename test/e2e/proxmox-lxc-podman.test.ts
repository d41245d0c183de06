/**
 * Real podman (and ctr for terminal mode) drive proxrun with the proxmox-lxc backend on the Proxmox
 * VE simulator (real LXC). conmon does not pass PROXRUN_CONFIG to the runtime, so for the test's
 * duration the simulator's config is written to /etc/proxrun/config.json, only if absent, under an
 * exclusive flock on /run/lock/proxrun-etc-config.lock, and removed in `after`.
 * podman's defaults that the backend refuses are turned off by flags, giving a clean config:
 * `--network none` (no netns path) and
 * containers.conf `default_sysctls = []` in a file named by CONTAINERS_CONF (podman 4.3 has no CONTAINERS_CONF_OVERRIDE; no
 * `net.ipv4.ping_group_range`).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Podman } from '../helpers/podman.js';
import { startContainerd, type ContainerdInstance } from '../helpers/containerd.js';
import { busyboxRootfs } from '../helpers/rootfs-cache.js';
import { describeResult, pollFor, runCommand } from '../helpers/exec.js';
import { startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { assertAllRequestsPassedSchema } from '../pve-sim/schema-audit.js';
import { BACKEND_ANNOTATION, requireE2eEnvironment, runtimeUnderTest } from './e2e-settings.js';

const VMID_RANGE: readonly [number, number] = [655000, 659999];
const ETC_CONFIG = '/etc/proxrun/config.json';
const ETC_LOCK = '/run/lock/proxrun-etc-config.lock';
/** What makes podman's config one the backend accepts without `lenient`. */
const CLEAN_FLAGS = ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
/**
 * podman bind-mounts /etc/hosts, /etc/hostname, /etc/resolv.conf and /run/.containerenv from its
 * runroot, whose folders are mode 0700: the backend binds them through links in the CT's monitor
 * folder, so the CTs here are unprivileged, the default.
 */
const PODMAN_CT = ['--annotation', `${BACKEND_ANNOTATION}=proxmox-lxc`];

/** Holds an exclusive flock on `file` (through flock(1)) until release() closes its stdin. */
async function holdLock(file: string): Promise<{ release: () => Promise<void> }> {
  const child: ChildProcessWithoutNullStreams = spawn('flock', ['-x', file, '-c', 'echo locked; exec cat >/dev/null'], { stdio: 'pipe' });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no lock on ${file} within 600 s`)), 600_000);
    child.stdout.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => reject(new Error(`flock exited with ${code}`)));
  });
  return {
    release: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

describe('podman and ctr → proxrun → proxmox-lxc (simulator)', { timeout: 900_000 }, () => {
  let sim: PveSimEnv | undefined;
  let podman: Podman | undefined;
  let containerd: ContainerdInstance | undefined;
  let lock: { release: () => Promise<void> } | undefined;
  let wroteEtcConfig = false;
  let confOverride: string;
  let rootfs: string;

  const podmanRun = (args: readonly string[], timeoutMs = 120_000) => {
    if (podman === undefined) throw new Error('podman not started');
    return runCommand(podman.argv(args), { timeoutMs, env: { ...process.env, CONTAINERS_CONF: confOverride } });
  };

  before(async () => {
    await requireE2eEnvironment(['podman', 'conmon', 'ctr', 'containerd', 'script', 'flock']);
    rootfs = await busyboxRootfs();
    lock = await holdLock(ETC_LOCK);
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE });
    if (fs.existsSync(ETC_CONFIG)) throw new Error(`${ETC_CONFIG} exists already; this test writes its own and will not overwrite it`);
    fs.mkdirSync(path.dirname(ETC_CONFIG), { recursive: true });
    fs.copyFileSync(sim.configFile, ETC_CONFIG);
    wroteEtcConfig = true;
    confOverride = path.join(sim.root, 'containers-override.conf');
    fs.writeFileSync(confOverride, '[containers]\ndefault_sysctls = []\n');
    podman = await Podman.start({ runtime: runtimeUnderTest });
  });

  afterEach(() => {
    if (sim === undefined) return;
    assert.deepEqual(sim.ctVmids(), [], 'CTs left in Proxmox');
    assert.deepEqual(sim.lxcContainers(), [], 'LXC containers left');
    assert.deepEqual(sim.templates(), [], 'templates left');
    assert.deepEqual(sim.volumes(), [], 'volumes left');
  });

  after(async () => {
    const podmanReport = podman === undefined ? undefined : await podman.cleanup();
    const containerdReport = containerd === undefined ? undefined : await containerd.stop();
    let destroyed: number[] = [];
    try {
      if (sim !== undefined) {
        assertAllRequestsPassedSchema(sim.root);
        destroyed = (await sim.stop()).destroyed;
      }
    } finally {
      if (wroteEtcConfig) fs.rmSync(ETC_CONFIG, { force: true });
      await lock?.release();
    }
    assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
    if (podmanReport !== undefined) assert.deepEqual(podmanReport, { containers: [], processes: [], mounts: [] }, 'podman left something behind');
    if (containerdReport !== undefined) assert.deepEqual(containerdReport, { containers: [], processes: [], mounts: [] }, 'containerd left something behind');
  });

  test('podman run --rm: out and err come back apart, exit 3', async () => {
    const r = await podmanRun(['run', '--rm', ...CLEAN_FLAGS, ...PODMAN_CT, '--rootfs', rootfs, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.exitCode, 3, describeResult(r));
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
  });

  test('podman run --rm, unprivileged: podman\'s /etc/hostname, /etc/hosts and /run/.containerenv are there', async () => {
    const script = 'cat /proc/self/uid_map; echo "$(cat /etc/hostname)"; grep -c . /etc/hosts; test -e /run/.containerenv && echo containerenv';
    const r = await podmanRun(['run', '--rm', '--hostname', 'podhost', ...CLEAN_FLAGS, ...PODMAN_CT, '--rootfs', rootfs, 'sh', '-c', script]);
    assert.equal(r.exitCode, 0, describeResult(r));
    const lines = r.stdout.split('\n');
    assert.match(lines[0] ?? '', /^\s*0\s+100000\s+65536$/, `the CT is unprivileged: ${describeResult(r)}`);
    assert.equal(lines[1], 'podhost');
    assert.ok(Number(lines[2]) >= 1, `/etc/hosts has lines: ${describeResult(r)}`);
    assert.equal(lines[3], 'containerenv');
  });

  test('podman stop ends a detached sleep', async () => {
    const started = await podmanRun(['run', '-d', '--name', 'sleeper', ...CLEAN_FLAGS, ...PODMAN_CT, '--rootfs', rootfs, 'sleep', '1000']);
    assert.equal(started.exitCode, 0, describeResult(started));
    await pollFor(async () => ((await podman?.state('sleeper'))?.status === 'running' ? true : undefined), { timeoutMs: 60_000, description: 'sleeper running' });
    const stopped = await podmanRun(['stop', '-t', '10', 'sleeper']);
    assert.equal(stopped.exitCode, 0, describeResult(stopped));
    const st = await podman?.state('sleeper');
    assert.equal(st?.status, 'exited');
    assert.equal(st?.exitCode, 143, 'SIGTERM ended sleep, not the SIGKILL after the timeout');
    const removed = await podmanRun(['rm', 'sleeper']);
    assert.equal(removed.exitCode, 0, describeResult(removed));
  });

  test('podman run -t is refused with a clear error, nothing created', async () => {
    const r = await runCommand(['script', '-qec', [...(podman?.argv(['run', '--rm', '-t', ...CLEAN_FLAGS, ...PODMAN_CT, '--rootfs', rootfs, 'sh']) ?? [])].map(shellWord).join(' '), '/dev/null'], {
      timeoutMs: 120_000,
      env: { ...process.env, CONTAINERS_CONF: confOverride },
    });
    assert.notEqual(r.exitCode, 0, describeResult(r));
    assert.match(r.stdout + r.stderr, /terminal mode.*not supported/, describeResult(r));
  });

  test('ctr run -t is refused with a clear error that reaches the user, nothing created', async () => {
    containerd = await startContainerd();
    const ctr = containerd.ctr;
    const argv = ctr.argv([
      'run', '--rm', '-t',
      '--runc-binary', runtimeUnderTest,
      '--annotation', `${BACKEND_ANNOTATION}=proxmox-lxc`,
      '--rootfs', rootfs, 'tty1', 'sh',
    ]);
    const r = await runCommand(['script', '-qec', argv.map(shellWord).join(' '), '/dev/null'], { timeoutMs: 120_000, env: { ...process.env, PROXRUN_CONFIG: sim?.configFile ?? '' } });
    assert.notEqual(r.exitCode, 0, describeResult(r));
    assert.match(r.stdout + r.stderr, /terminal mode.*not supported/, describeResult(r));
    assert.deepEqual(await ctr.removeAll(), [], 'ctr containers left');
  });
});

function shellWord(word: string): string {
  return /^[A-Za-z0-9_./=:,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
