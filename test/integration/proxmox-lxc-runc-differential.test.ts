/**
 * What a process sees of itself under proxmox-lxc (on the simulator, real LXC) is what it sees
 * under runc, for the same bundle: the probe (test/helpers/differential/probe.ts) runs as the
 * bundle's process under both and the two reports are compared field by field; the only
 * differences allowed are listed below, each with its reason. Bundles: `runc spec`'s default;
 * the config containerd writes for `ctr run --seccomp` and the one podman writes by default (both
 * captured at test time from the real engine through a runtime that saves config.json and runs
 * runc; podman in a network namespace this test makes, with `--network none`); and bundles that
 * set every capability set for root and for a non-root user with ambient capabilities, a profile
 * that denies mkdir with EPERM, each seccomp action, argument conditions, and an AppArmor profile
 * and an SELinux label on a host without those modules (both runtimes must refuse).
 * Needs root, runc, LXC, containerd/ctr and podman.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startContainerd, type ContainerdInstance } from '../helpers/containerd.js';
import { makeBundle, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { makeBusyboxRootfs } from '../helpers/busybox-rootfs.js';
import { startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { runCommand } from '../helpers/exec.js';
import { requireCommands, requireRoot } from '../helpers/host-setup.js';
import { Podman } from '../helpers/podman.js';
import { parseProbe, probeArgs, type ProbeCheck } from '../helpers/differential/probe.js';
import { runWithProxmoxLxc, runWithRunc, startProxmoxLxcContainer, startRuncContainer, type BundleRun, type ExecTarget } from '../helpers/differential/run.js';
import { compareProbes, type AllowedDifference } from '../helpers/differential/compare.js';
import { captureCtrConfig, capturePodmanConfig, makeCaptureRuntime, type CaptureRuntime } from '../helpers/differential/capture.js';

const VMID_RANGE: readonly [number, number] = [740000, 744999];
const ALL_CHECKS: ProbeCheck[] = ['mkdir', 'chmod', 'chmod700', 'chmod750', 'symlink', 'hardlink', 'rename', 'unlink', 'kill0'];

type Config = Record<string, unknown>;

/** /proc/PID/limits names of the OCI rlimits. */
const LIMIT_NAMES: Record<string, string> = {
  RLIMIT_CPU: 'Max_cpu_time', RLIMIT_FSIZE: 'Max_file_size', RLIMIT_DATA: 'Max_data_size', RLIMIT_STACK: 'Max_stack_size',
  RLIMIT_CORE: 'Max_core_file_size', RLIMIT_RSS: 'Max_resident_set', RLIMIT_NPROC: 'Max_processes', RLIMIT_NOFILE: 'Max_open_files',
  RLIMIT_MEMLOCK: 'Max_locked_memory', RLIMIT_AS: 'Max_address_space', RLIMIT_LOCKS: 'Max_file_locks', RLIMIT_SIGPENDING: 'Max_pending_signals',
  RLIMIT_MSGQUEUE: 'Max_msgqueue_size', RLIMIT_NICE: 'Max_nice_priority', RLIMIT_RTPRIO: 'Max_realtime_priority', RLIMIT_RTTIME: 'Max_realtime_timeout',
};

/** The differences allowed between runc (reference) and proxmox-lxc for a bundle, each with why. */
function allowedFor(config: Config): AllowedDifference[] {
  const proc = (config['process'] ?? {}) as { rlimits?: Array<{ type: string }>; oomScoreAdj?: number };
  const setLimits = new Set((proc.rlimits ?? []).map((r) => LIMIT_NAMES[r.type]));
  const rules: AllowedDifference[] = [
    {
      key: 'status.Seccomp',
      reason: "a CT always runs under LXC's own seccomp policy (common.seccomp, as on Proxmox) below the profile",
      applies: (a, b) => a[0] === '0' && b[0] === '2',
    },
    {
      key: 'status.Seccomp_filters',
      reason: "LXC's own filter is one more below the profile's",
      applies: (a, b) => Number(b[0]) === Number(a[0]) + 1,
    },
    {
      // Only the limits the spec does not set.
      key: setLimits.size === 0 ? /^limit\./ : new RegExp(`^limit\\.(?!(${[...setLimits].join('|')})$)`),
      reason: "an rlimit the spec does not set is inherited: from runc's caller under runc, from lxc-start in a CT",
    },
  ];
  if (proc.oomScoreAdj === undefined) {
    rules.push({ key: 'oom_score_adj', reason: "without process.oomScoreAdj it is inherited: from runc's caller, from lxc-start in a CT" });
  }
  if (config['hostname'] === undefined || config['hostname'] === '') {
    rules.push({ key: 'hostname', reason: "without a hostname runc's new UTS namespace keeps the host's name; a Proxmox CT always has one (from the container id)" });
  }
  return rules;
}

describe('proxmox-lxc against runc, probe by probe', { timeout: 1_800_000 }, () => {
  let sim: PveSimEnv;
  let env: NodeJS.ProcessEnv;
  let work: string;
  let rootfs: string;
  let capture: CaptureRuntime;
  let containerd: ContainerdInstance | undefined;
  let podman: Podman | undefined;
  const netns = `proxrun-diff-${process.pid}`;
  let counter = 0;

  before(async () => {
    requireRoot('the differential tests');
    requireBuilt();
    await requireCommands(['runc', 'lxc-start', 'containerd', 'ctr', 'podman', 'ip', 'nsenter']);
    work = tempDir('proxrun-diff-');
    fs.chmodSync(work, 0o755);
    // A rootfs of this test's own, with an empty /.proxrun: a read-only rootfs without the monitor's
    // mount point does not start yet (issue 8 point 5, not this change), and runc's default bundle
    // is read-only. The probe does not look at that folder.
    rootfs = path.join(work, 'rootfs');
    await makeBusyboxRootfs(rootfs);
    fs.mkdirSync(path.join(rootfs, '.proxrun'));
    capture = await makeCaptureRuntime();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE });
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
  });

  after(async () => {
    const podmanReport = podman === undefined ? undefined : await podman.cleanup();
    await runCommand(['ip', 'netns', 'delete', netns]);
    const containerdReport = containerd === undefined ? undefined : await containerd.stop();
    const destroyed = sim === undefined ? [] : (await sim.stop()).destroyed;
    fs.rmSync(work, { recursive: true, force: true });
    if (capture !== undefined) fs.rmSync(capture.dir, { recursive: true, force: true });
    assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
    if (containerdReport !== undefined) assert.deepEqual(containerdReport, { containers: [], processes: [], mounts: [] }, 'containerd left something');
    if (podmanReport !== undefined) assert.deepEqual(podmanReport.processes, [], 'podman left processes');
  });

  /** Writes `config` as a bundle (root.path is this test's rootfs, args the probe) and returns its folder. */
  function bundleOf(name: string, config: Config, checks: readonly ProbeCheck[]): string {
    const dir = path.join(work, `${name}-${counter++}`);
    fs.mkdirSync(dir, { recursive: true });
    const proc = (config['process'] ?? {}) as Config;
    const out = { ...config, root: { ...(config['root'] as Config), path: rootfs }, process: { ...proc, terminal: false, args: probeArgs(checks) } };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(out, null, 2));
    return dir;
  }

  /** Runs the bundle under both and compares; returns runc's report for extra assertions. */
  async function differential(name: string, config: Config, checks: readonly ProbeCheck[] = ALL_CHECKS): Promise<ReturnType<typeof parseProbe>> {
    const bundle = bundleOf(name, config, checks);
    const id = `diff-${name}-${process.pid}`;
    const reference = await runWithRunc(bundle, id);
    const candidate = await runWithProxmoxLxc(bundle, id, env);
    const show = (r: BundleRun): string => `${r.runtime}: status ${String(r.status)}\nstderr: ${r.stderr}\nstdout: ${r.stdout}`;
    assert.equal(reference.status, 0, `the probe must run under runc\n${show(reference)}`);
    assert.equal(candidate.status, reference.status, `${show(reference)}\n${show(candidate)}`);
    assert.equal(candidate.stderr, reference.stderr, 'the same stderr');
    const a = parseProbe(reference.stdout);
    const b = parseProbe(candidate.stdout);
    const { unexplained, allowed } = compareProbes(a, b, allowedFor(config));
    for (const line of allowed) process.stdout.write(`# ${name}: allowed ${line}\n`);
    assert.deepEqual(unexplained, [], `${name}: differences no rule allows`);
    return a;
  }

  async function runcSpecDefault(): Promise<Config> {
    const dir = tempDir('proxrun-runc-spec-');
    try {
      const r = await runCommand(['runc', 'spec', '--bundle', dir]);
      assert.equal(r.exitCode, 0, r.stderr);
      return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Config;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** A bundle like `proxrun spec` writes (test/helpers/proxrun.ts makeBundle), changed by `edit`. */
  async function customConfig(edit: (config: Config, proc: Config) => void): Promise<Config> {
    const dir = await makeBundle(path.join(work, `custom-${counter++}`), {
      edit: (config) => {
        config['process'] = { ...(config['process'] as Config), noNewPrivileges: false };
        edit(config, config['process'] as Config);
      },
    });
    return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Config;
  }

  const seccompOf = (syscalls: unknown[], defaultAction = 'SCMP_ACT_ALLOW'): Config => ({ defaultAction, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls });

  test("runc spec's default bundle, unmodified but for terminal and args", async () => {
    const report = await differential('runcspec', await runcSpecDefault());
    assert.equal(report.get('status.CapBnd')?.[0], '0000000020000420', 'AUDIT_WRITE, KILL, NET_BIND_SERVICE');
  });

  test('containerd\'s config for `ctr run --seccomp` (captured from ctr): its default profile loads, the app runs', async () => {
    containerd = await startContainerd();
    const config = await captureCtrConfig(containerd, capture, rootfs, ['--seccomp']);
    const report = await differential('ctrseccomp', config);
    assert.equal(report.get('status.Seccomp')?.[0], '2', "containerd's profile is on under runc");
  });

  test('podman\'s default config (captured from podman in a network namespace of this test, --network none): its profile loads, the app runs', async () => {
    const added = await runCommand(['ip', 'netns', 'add', netns]);
    assert.equal(added.exitCode, 0, added.stderr);
    podman = await Podman.start({ runtime: capture.script, netns });
    const config = await capturePodmanConfig(podman, rootfs, `diffcap-${process.pid}`);
    // Network sysctls are not set in a CT yet (issue 8 point 3, another change): podman's default
    // net.ipv4.ping_group_range is taken out for both runtimes; nothing the probe reads depends on it.
    const linux = config['linux'] as Config;
    const sysctl = { ...(linux['sysctl'] as Record<string, string> | undefined) };
    delete sysctl['net.ipv4.ping_group_range'];
    linux['sysctl'] = sysctl;
    const report = await differential('podman', config);
    assert.equal(report.get('status.Seccomp')?.[0], '2', "podman's profile is on under runc");
  });

  test('root with every capability set given', async () => {
    const report = await differential('rootcaps', await customConfig((_c, proc) => {
      proc['capabilities'] = {
        bounding: ['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_AUDIT_WRITE', 'CAP_NET_RAW'],
        effective: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'],
        permitted: ['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
        inheritable: ['CAP_NET_BIND_SERVICE'],
        ambient: ['CAP_NET_BIND_SERVICE'],
      };
    }));
    assert.equal(report.get('status.CapAmb')?.[0], '0000000000000400');
  });

  test('a non-root user with ambient capabilities, groups, umask, cwd, env, rlimits and oomScoreAdj', async () => {
    const report = await differential('usercaps', await customConfig((config, proc) => {
      proc['user'] = { uid: 1000, gid: 1000, additionalGids: [10, 1000, 65534], umask: 0o077 };
      proc['capabilities'] = {
        bounding: ['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
        effective: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
        permitted: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
        inheritable: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
        ambient: ['CAP_NET_BIND_SERVICE'],
      };
      proc['cwd'] = '/tmp';
      proc['env'] = ['PATH=/bin:/usr/bin', 'GREETING=hello world', 'GREETING=twice', 'EMPTY='];
      proc['rlimits'] = [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 }, { type: 'RLIMIT_NPROC', soft: 300, hard: 400 }];
      proc['oomScoreAdj'] = 123;
      config['hostname'] = 'diff-user';
    }));
    assert.equal(report.get('status.CapEff')?.[0], '0000000000000400', 'the ambient set survives the uid change under runc');
    assert.equal(report.get('status.Groups')?.[0], '10 1000 65534');
  });

  test('a profile that denies mkdir with EPERM: mkdir fails, everything else works', async () => {
    const report = await differential('denymkdir', await customConfig((config) => {
      (config['linux'] as Config)['seccomp'] = seccompOf([{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }]);
    }));
    assert.equal(report.get('check.mkdir')?.[0], 'Operation not permitted');
    assert.equal(report.get('check.symlink')?.[0], 'ok');
  });

  test('each seccomp action on its own syscall, with no_new_privs (the filter loads after the user switch)', async () => {
    const report = await differential('actions', await customConfig((config, proc) => {
      proc['noNewPrivileges'] = true;
      proc['user'] = { uid: 1000, gid: 1000 };
      (config['linux'] as Config)['seccomp'] = seccompOf([
        { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['symlink', 'symlinkat'], action: 'SCMP_ACT_KILL' },
        { names: ['link', 'linkat'], action: 'SCMP_ACT_KILL_PROCESS' },
        { names: ['rename', 'renameat', 'renameat2'], action: 'SCMP_ACT_KILL_THREAD' },
        { names: ['chmod', 'fchmodat'], action: 'SCMP_ACT_TRAP' },
        { names: ['kill'], action: 'SCMP_ACT_LOG' },
        { names: ['unlink', 'unlinkat'], action: 'SCMP_ACT_TRACE' },
      ]);
    }));
    assert.deepEqual(['mkdir', 'symlink', 'hardlink', 'rename', 'chmod', 'kill0', 'unlink'].map((c) => report.get(`check.${c}`)?.[0]),
      ['Permission denied', 'signal 31', 'signal 31', 'signal 31', 'signal 31', 'ok', 'Function not implemented']);
  });

  test('argument conditions: several on one argument (runc makes a rule of each), and a deny-by-default profile', async () => {
    const report = await differential('conditions', await customConfig((config) => {
      const mode = (index: number, value: number): Config => ({ index, value, op: 'SCMP_CMP_EQ' });
      (config['linux'] as Config)['seccomp'] = seccompOf([
        { names: ['chmod'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [mode(1, 0o700), mode(1, 0o750)] },
        { names: ['fchmodat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [mode(2, 0o700), mode(2, 0o750)] },
        { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }, { index: 0, value: 1, op: 'SCMP_CMP_GT' }] },
      ]);
    }));
    assert.deepEqual(['chmod', 'chmod700', 'chmod750', 'kill0'].map((c) => report.get(`check.${c}`)?.[0]), ['ok', 'Permission denied', 'Permission denied', 'Operation not permitted']);
  });

  test('an exec: its own user, ambient capabilities, groups, env, cwd and rlimits, under the container\'s seccomp profile', async () => {
    const config = await customConfig((c, proc) => {
      proc['args'] = ['sleep', '1000'];
      proc['oomScoreAdj'] = 77;
      proc['capabilities'] = { bounding: ['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] };
      (c['linux'] as Config)['seccomp'] = seccompOf([{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }]);
    });
    const bundle = path.join(work, `exec-${counter++}`);
    fs.mkdirSync(bundle);
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ...config, root: { ...(config['root'] as Config), path: rootfs } }));
    const execProcess = {
      terminal: false,
      user: { uid: 1000, gid: 1000, additionalGids: [10, 65534] },
      args: probeArgs(ALL_CHECKS),
      env: ['PATH=/bin:/usr/bin', 'EXEC_ONLY=1'],
      cwd: '/tmp',
      capabilities: { bounding: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'], effective: ['CAP_NET_BIND_SERVICE'], permitted: ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'], inheritable: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'] },
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 256, hard: 512 }],
      noNewPrivileges: true,
    };
    const processFile = path.join(work, `exec-process-${counter++}.json`);
    fs.writeFileSync(processFile, JSON.stringify(execProcess));
    const id = `diff-exec-${process.pid}`;
    const targets: ExecTarget[] = [];
    try {
      targets.push(await startRuncContainer(bundle, id));
      targets.push(await startProxmoxLxcContainer(bundle, id, env));
      const [reference, candidate] = [await (targets[0] as ExecTarget).exec(processFile), await (targets[1] as ExecTarget).exec(processFile)] as [BundleRun, BundleRun];
      assert.equal(reference.status, 0, `runc exec: ${reference.stderr}`);
      assert.equal(candidate.status, 0, `proxrun exec: ${candidate.stderr}`);
      const a = parseProbe(reference.stdout);
      const rules: AllowedDifference[] = [
        ...allowedFor({ ...config, process: { ...execProcess, oomScoreAdj: 77 } }),
        {
          key: 'limit.Max_open_files',
          reason: "runc 1.1.5's exec (built with Go 1.19, which raises its own soft RLIMIT_NOFILE to the hard limit at start) hands that raised soft limit on; the spec's 256 is what proxmox-lxc gives",
          applies: (ref, cand) => ref[0] === '512 512' && cand[0] === '256 512',
        },
      ];
      const { unexplained, allowed } = compareProbes(a, parseProbe(candidate.stdout), rules);
      for (const line of allowed) process.stdout.write(`# exec: allowed ${line}\n`);
      assert.deepEqual(unexplained, [], 'exec: differences no rule allows');
      assert.equal(a.get('check.mkdir')?.[0], 'Permission denied', "the container's profile applies to the exec under runc");
      assert.equal(a.get('status.CapAmb')?.[0], '0000000000000400');
      assert.equal(a.get('oom_score_adj')?.[0], '77', "the container's oomScoreAdj");
    } finally {
      for (const target of targets) await target.stop();
    }
  });

  test('an AppArmor profile and an SELinux label on a host without those modules: both runtimes refuse', async (t) => {
    if (fs.existsSync('/sys/kernel/security/apparmor')) {
      t.skip('this host runs AppArmor: the profile would be applied by both');
      return;
    }
    for (const field of ['apparmorProfile', 'selinuxLabel'] as const) {
      const bundle = bundleOf(field, await customConfig((_c, proc) => {
        proc[field] = field === 'apparmorProfile' ? 'docker-default' : 'system_u:system_r:container_t:s0';
      }), []);
      const id = `diff-${field.toLowerCase()}-${process.pid}`;
      const reference = await runWithRunc(bundle, id);
      const candidate = await runWithProxmoxLxc(bundle, id, env);
      assert.equal(reference.status, undefined, `runc must fail for ${field}: ${reference.stderr}`);
      assert.equal(candidate.status, undefined, `proxmox-lxc must refuse ${field}`);
      assert.match(candidate.stderr, new RegExp(`/process/${field}: `));
      assert.deepEqual(sim.ctVmids(), [], 'a refused create leaves no CT');
    }
  });
});
