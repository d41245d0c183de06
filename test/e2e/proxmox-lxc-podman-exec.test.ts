/**
 * `podman exec` into a proxmox-lxc CT on the Proxmox VE simulator (real LXC). conmon runs
 * `proxrun exec --pid-file F --process P --detach` and waits for the pid in F: output must reach
 * podman apart and its exit code must be the exec's. `podman exec -t` must be refused with a clear
 * message and run nothing. As in proxmox-lxc-podman.test.ts, conmon does not pass PROXRUN_CONFIG,
 * so the simulator's config is written to /etc/proxrun/config.json (only if absent) under an
 * exclusive flock on /run/lock/proxrun-etc-config.lock, removed in `after`; podman's defaults the
 * backend refuses are turned off by `--network none` and a
 * containers.conf with `default_sysctls = []`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Podman } from '../helpers/podman.js';
import { busyboxRootfs } from '../helpers/rootfs-cache.js';
import { describeResult, pollFor, runCommand } from '../helpers/exec.js';
import { startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { BACKEND_ANNOTATION, requireE2eEnvironment, runtimeUnderTest } from './e2e-settings.js';

const VMID_RANGE: readonly [number, number] = [825000, 829999];
const ETC_CONFIG = '/etc/proxrun/config.json';
const ETC_LOCK = '/run/lock/proxrun-etc-config.lock';
const CLEAN_FLAGS = ['--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];
const NAME = 'execme';

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

function shellWord(word: string): string {
  return /^[A-Za-z0-9_./=:,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

describe('podman exec → proxrun → proxmox-lxc (simulator)', { timeout: 600_000 }, () => {
  let sim: PveSimEnv | undefined;
  let podman: Podman | undefined;
  let lock: { release: () => Promise<void> } | undefined;
  let wroteEtcConfig = false;
  let confOverride = '';
  let rootfs: string;

  const podmanEnv = (): NodeJS.ProcessEnv => ({ ...process.env, CONTAINERS_CONF: confOverride });
  const podmanCmd = (args: readonly string[], timeoutMs = 120_000) => {
    if (podman === undefined) throw new Error('podman not started');
    return runCommand(podman.argv(args), { timeoutMs, env: podmanEnv() });
  };

  before(async () => {
    await requireE2eEnvironment(['podman', 'conmon', 'script', 'flock']);
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
    const started = await podmanCmd(['run', '-d', '--name', NAME, ...CLEAN_FLAGS, '--annotation', `${BACKEND_ANNOTATION}=proxmox-lxc`, '--rootfs', rootfs, 'sleep', '1000']);
    assert.equal(started.exitCode, 0, describeResult(started));
    await pollFor(async () => ((await podman?.state(NAME))?.status === 'running' ? true : undefined), { timeoutMs: 60_000, description: `${NAME} running` });
  });

  after(async () => {
    let removed: Awaited<ReturnType<typeof podmanCmd>> | undefined;
    let podmanReport: Awaited<ReturnType<Podman['cleanup']>> | undefined;
    let destroyed: number[] = [];
    try {
      if (podman !== undefined) {
        removed = await podmanCmd(['rm', '-f', '-t', '0', NAME]);
        podmanReport = await podman.cleanup();
      }
      if (sim !== undefined) destroyed = (await sim.stop()).destroyed;
    } finally {
      if (wroteEtcConfig) fs.rmSync(ETC_CONFIG, { force: true });
      await lock?.release();
    }
    if (removed !== undefined) assert.equal(removed.exitCode, 0, describeResult(removed));
    assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
    if (podmanReport !== undefined) assert.deepEqual(podmanReport, { containers: [], processes: [], mounts: [] }, 'podman left something behind');
  });

  test('podman exec: out and err come back apart, exit 4', async () => {
    const r = await podmanCmd(['exec', NAME, 'sh', '-c', 'echo out; echo err >&2; exit 4']);
    assert.equal(r.exitCode, 4, describeResult(r));
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
  });

  test('podman exec runs in the CT with podman\'s env, workdir and user', async () => {
    const r = await podmanCmd(['exec', '--env', 'GREETING=hi there', '--workdir', '/tmp', '--user', '65534:65534', NAME, 'sh', '-c', 'echo "$GREETING|$(pwd)|$(id -u):$(id -g)|$(cat /proc/1/cmdline | tr "\\0" " ")"']);
    assert.equal(r.exitCode, 0, describeResult(r));
    assert.match(r.stdout, /^hi there\|\/tmp\|65534:65534\|\/\.proxrun\/busybox sh \/\.proxrun\/init \n$/);
  });

  test('podman exec -t is refused with a clear message, and nothing runs', async () => {
    const marker = `/tmp/tty-exec-${process.pid}`;
    const argv = podman?.argv(['exec', '-t', NAME, 'touch', marker]) ?? [];
    const r = await runCommand(['script', '-qec', argv.map(shellWord).join(' '), '/dev/null'], { timeoutMs: 120_000, env: podmanEnv() });
    assert.notEqual(r.exitCode, 0, describeResult(r));
    assert.match(r.stdout + r.stderr, /terminal mode.*not supported by the proxmox-lxc backend/, describeResult(r));
    const check = await podmanCmd(['exec', NAME, 'test', '-e', marker]);
    assert.equal(check.exitCode, 1, `the refused exec must not have run: ${describeResult(check)}`);
  });
});
