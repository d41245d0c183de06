/**
 * Real podman drives proxrun with the proxmox-vm backend on the Proxmox VE simulator (real QEMU,
 * TCG). podman always adds file bind mounts (/etc/hosts, /etc/hostname, /etc/resolv.conf,
 * /run/.containerenv), a /dev/shm bind and pids.limit; the backend copies the files into the VM's
 * disk at create, gives /dev/shm the guest's tmpfs and the payload a pids cgroup. The rest is
 * turned off with the flags documented for proxmox-lxc: `--network none` (no netns path),
 * `--security-opt seccomp=unconfined`, containers.conf `default_sysctls = []`.
 * conmon does not pass PROXRUN_CONFIG to the runtime, so for the test's duration the simulator's
 * config is written to /etc/proxrun/config.json, only if absent, under an exclusive flock on
 * /run/lock/proxrun-etc-config.lock (the same lock the proxmox-lxc podman test takes), and
 * removed in `after`.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Podman } from '../helpers/podman.js';
import { busyboxRootfs } from '../helpers/rootfs-cache.js';
import { describeResult, runCommand } from '../helpers/exec.js';
import { startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { assertAllRequestsPassedSchema } from '../pve-sim/schema-audit.js';
import { BACKEND_ANNOTATION, requireE2eEnvironment, runtimeUnderTest } from './e2e-settings.js';

const VMID_RANGE: readonly [number, number] = [691000, 691999];
const ETC_CONFIG = '/etc/proxrun/config.json';
const ETC_LOCK = '/run/lock/proxrun-etc-config.lock';
import { VM_RUN_BASE } from '../../src/backends/proxmox-vm/settings.js';
const CLEAN_FLAGS = ['--network', 'none', '--security-opt', 'seccomp=unconfined', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
const VM = ['--annotation', `${BACKEND_ANNOTATION}=proxmox-vm`];

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

describe('podman → proxrun → proxmox-vm (simulator, real QEMU)', { timeout: 900_000 }, () => {
  let sim: PveSimEnv | undefined;
  let podman: Podman | undefined;
  let lock: { release: () => Promise<void> } | undefined;
  let wroteEtcConfig = false;
  let confOverride: string;
  let rootfs: string;
  let vmDirsBefore: Set<string>;

  const vmDirs = (): string[] => (fs.existsSync(VM_RUN_BASE) ? fs.readdirSync(VM_RUN_BASE) : []);
  const vmVmids = (): number[] => {
    if (sim === undefined) return [];
    const dir = path.join(sim.pveDir, 'nodes', sim.node, 'qemu-server');
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => /^\d+\.conf$/.test(n)).map((n) => Number.parseInt(n, 10)) : [];
  };
  const qemuProcesses = (): string[] =>
    spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line.includes('qemu-system') && line.includes(sim?.root ?? '//'));
  const podmanRun = (args: readonly string[], timeoutMs = 180_000) => {
    if (podman === undefined) throw new Error('podman not started');
    return runCommand(podman.argv(args), { timeoutMs, env: { ...process.env, CONTAINERS_CONF: confOverride } });
  };

  before(async () => {
    await requireE2eEnvironment(['podman', 'conmon', 'flock']);
    rootfs = await busyboxRootfs();
    lock = await holdLock(ETC_LOCK);
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE, timeoutSeconds: 120 });
    vmDirsBefore = new Set(vmDirs());
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
    assert.deepEqual(vmVmids(), [], 'VMs left in Proxmox');
    assert.deepEqual(sim.volumes(), [], 'disks left on the storage');
    assert.deepEqual(vmDirs().filter((d) => !vmDirsBefore.has(d)), [], `folders left under ${VM_RUN_BASE}`);
    assert.deepEqual(qemuProcesses(), [], 'QEMU processes left');
  });

  after(async () => {
    const podmanReport = podman === undefined ? undefined : await podman.cleanup();
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
    assert.deepEqual(destroyed, [], 'guests were left in the simulator');
    if (podmanReport !== undefined) assert.deepEqual(podmanReport, { containers: [], processes: [], mounts: [] }, 'podman left something behind');
  });

  test('podman run --rm: out and err come back apart, exit 3', async () => {
    const r = await podmanRun(['run', '--rm', ...CLEAN_FLAGS, ...VM, '--rootfs', rootfs, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.exitCode, 3, describeResult(r));
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
  });

  test("podman's /etc/hostname and /etc/hosts reach the guest as copies; /dev/shm is a tmpfs", async () => {
    const r = await podmanRun(['run', '--rm', '--hostname', 'vmpod', ...CLEAN_FLAGS, ...VM, '--rootfs', rootfs, 'sh', '-c',
      'echo "$(cat /etc/hostname)"; hostname; grep -c vmpod /etc/hosts; test -f /run/.containerenv && echo containerenv; grep -c "^tmpfs /dev/shm tmpfs" /proc/mounts']);
    assert.equal(r.exitCode, 0, describeResult(r));
    assert.equal(r.stdout, 'vmpod\nvmpod\n1\ncontainerenv\n1\n', describeResult(r));
  });
});
