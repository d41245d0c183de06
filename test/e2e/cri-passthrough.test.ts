/**
 * Kubernetes pods through containerd's CRI plugin (1.6, Debian 12's), driven by a real CRI
 * client as a kubelet would drive it, with proxrun as a runtime handler (the runc shim with
 * `BinaryName` = proxrun, `io.proxrun.*` annotations passed through) on the pass-through
 * backends. A second handler whose BinaryName is runc itself is the reference: a pod on
 * proxrun → runc and on proxrun → crun must show what the same pod shows on runc.
 *
 * One containerd serves every test: it runs in a network namespace of its own with a CNI
 * bridge (no gateway, no masquerading), in a mount namespace without the cgroup v2 mount on
 * hybrid hosts so that crun can run. Every test leaves no pod, container, runtime state, pod
 * network namespace or CNI address lease behind, and `after` insists that stopping containerd
 * found nothing left either.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { isHybridCgroup } from '../helpers/cgroup.js';
import { isAlive, processesMentioning } from '../helpers/cleanup.js';
import { pollFor } from '../helpers/exec.js';
import { CriError, type ContainerConfig, type CriClient, type NamespaceMode, type PodSandboxConfig } from '../helpers/cri/client.js';
import { startCriContainerd, type CriContainerd } from '../helpers/cri/containerd-cri.js';
import { BUSYBOX_IMAGE, PAUSE_IMAGE, importTestImages } from '../helpers/cri/images.js';
import { backendsHolding } from './backend-evidence.js';
import { BACKEND_ANNOTATION, backendsUnderTest, requireE2eEnvironment, runtimeUnderTest, type PassthroughBackend } from './e2e-settings.js';

/** The handler whose binary is proxrun, and the reference handler whose binary is runc itself. */
const PROXRUN_HANDLER = 'proxrun';
const RUNC_HANDLER = 'runc';

interface Variant {
  readonly label: string;
  readonly handler: string;
  /** The backend the pod's annotation picks (proxrun handler only). */
  readonly backend?: PassthroughBackend;
}

const REFERENCE: Variant = { label: 'runc itself', handler: RUNC_HANDLER };
/** The pass-through backends under test (PROXRUN_E2E_BACKENDS, default runc and crun), each through proxrun. */
const THROUGH_PROXRUN: readonly Variant[] = backendsUnderTest().map((backend) => ({ label: `proxrun → ${backend}`, handler: PROXRUN_HANDLER, backend }));

/** The server traps the stop signal, says so, keeps running, and is then killed by SIGKILL. */
const SERVER_SCRIPT = [
  'echo out-line',
  'echo err-line >&2',
  "trap 'echo got-TERM; t=1' TERM",
  'nc -ll -p 8080 -e echo pong &',
  'while :; do sleep 1 & wait $!; if [ -n "$t" ]; then echo alive-after-TERM; t=; fi; done',
].join('\n');

/** One line of a CRI container log: `<RFC 3339 time> <stream> <F|P> <text>`. */
interface LogLine {
  readonly stream: string;
  readonly tag: string;
  readonly text: string;
}

function readCriLog(file: string): LogLine[] {
  return readFileSync(file, 'utf8').split('\n').filter((line) => line !== '').map((line) => {
    const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) ([FP]) (.*)$/.exec(line);
    assert.ok(match, `not a CRI log line: ${JSON.stringify(line)}`);
    return { stream: match[2] ?? '', tag: match[3] ?? '', text: match[4] ?? '' };
  });
}

/**
 * The log once it has at least `count` lines (containerd copies a container's output into the
 * file on its own schedule), or as it is when the deadline passes, for the assertion to show.
 */
async function criLogWith(file: string, count: number): Promise<LogLine[]> {
  try {
    return await pollFor(() => {
      const lines = existsSync(file) ? readCriLog(file) : [];
      return lines.length >= count ? lines : undefined;
    }, { timeoutMs: 15_000, intervalMs: 100, description: `${count} lines in ${file}` });
  } catch {
    return existsSync(file) ? readCriLog(file) : [];
  }
}

function sortedLines(lines: LogLine[]): string[] {
  return lines.map((line) => `${line.stream} ${line.tag} ${line.text}`).sort();
}

/** containerd's verbose `info` JSON (pid, runtimeSpec, ...). */
function verboseInfo(info: Record<string, string>): Record<string, unknown> {
  const text = info['info'];
  assert.ok(text, 'verbose status has no info');
  return JSON.parse(text) as Record<string, unknown>;
}

function infoPid(info: Record<string, string>): number {
  const pid = verboseInfo(info)['pid'];
  assert.equal(typeof pid, 'number', 'verbose info has no pid');
  return pid as number;
}

function sandboxNetnsPath(info: Record<string, string>): string {
  const spec = verboseInfo(info)['runtimeSpec'] as { linux?: { namespaces?: { type: string; path?: string }[] } };
  const network = spec.linux?.namespaces?.find((ns) => ns.type === 'network');
  assert.ok(network?.path, 'the sandbox spec joins no network namespace by path');
  return network.path;
}

function nsLink(pid: number, type: string): string {
  return readlinkSync(`/proc/${pid}/ns/${type}`);
}

/** Everything a pod showed, in terms that do not depend on ids, addresses or the runtime. */
interface PodObservation {
  hostnames: string[];
  sharedWithPause: Record<string, boolean[]>;
  lonerPidNsIsOwn: boolean;
  podIpOnEth0: boolean[];
  localhost: string;
  sharedPsSeesOthers: boolean;
  lonerPsSeesOthers: boolean;
  execSync: { stdout: string; stderr: string; exitCode: number };
  serverLog: string[];
  exitedLog: string[];
  exitedCode: number;
  stop: { exitCode: number; log: string[] };
  teardown: Record<string, boolean>;
}

describe('CRI: pods through containerd\'s CRI plugin with proxrun as a runtime handler (pass-through backends)', { timeout: 600_000 }, () => {
  let containerd: CriContainerd;
  let cri: CriClient;
  let reference: Promise<PodObservation> | undefined;

  before(async () => {
    await requireE2eEnvironment(['containerd', 'ctr', 'containerd-shim-runc-v2', 'ip', '/usr/lib/cni/bridge', '/usr/lib/cni/host-local', '/usr/lib/cni/loopback']);
    containerd = await startCriContainerd({
      handlers: [
        { name: RUNC_HANDLER, binary: '/usr/sbin/runc' },
        { name: PROXRUN_HANDLER, binary: runtimeUnderTest, passAnnotations: ['io.proxrun.*'] },
      ],
      sandboxImage: PAUSE_IMAGE,
      // crun refuses hybrid hosts (docs/passthrough.md); runc runs the same either way.
      hideCgroup2: isHybridCgroup() && THROUGH_PROXRUN.some((variant) => variant.backend === 'crun'),
    });
    cri = containerd.cri;
    await importTestImages(containerd);
  });

  afterEach(async () => {
    if (containerd === undefined) return;
    // Remove what a failed test left, then insist the test itself had left nothing.
    const pods = await cri.listPodSandboxes();
    for (const pod of pods) {
      await cri.stopPodSandbox(pod.id);
      await cri.removePodSandbox(pod.id);
    }
    assert.deepEqual(pods.map((pod) => pod.metadata.name), [], 'pods left behind');
    assert.deepEqual(containerd.leases(), [], 'CNI address leases left behind');
  });

  after(async () => {
    if (containerd === undefined) return;
    const dir = containerd.dir;
    const report = await containerd.stop();
    assert.deepEqual(report, { pods: [], processes: [], mounts: [], leases: [], runtimeState: [] }, 'containerd left something behind');
    assert.deepEqual(await processesMentioning(dir), []);
    assert.equal(existsSync(dir), false, `${dir} still exists`);
  });

  async function podConfig(name: string, annotations: Record<string, string>, pid: NamespaceMode): Promise<PodSandboxConfig> {
    return {
      metadata: { name, uid: randomUUID(), namespace: 'default' },
      hostname: `host-${name}`,
      log_directory: await containerd.podLogDir(name),
      annotations,
      linux: { security_context: { namespace_options: { pid } } },
    };
  }

  function containerConfig(name: string, command: string[], pid: NamespaceMode, annotations: Record<string, string> = {}): ContainerConfig {
    return {
      metadata: { name },
      image: { image: BUSYBOX_IMAGE },
      command,
      annotations,
      log_path: `${name}.log`,
      linux: { security_context: { namespace_options: { pid } } },
    };
  }

  async function waitForState(id: string, state: 'CONTAINER_RUNNING' | 'CONTAINER_EXITED') {
    return pollFor(async () => {
      const status = await cri.containerStatus(id, true);
      return status.status.state === state ? status : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100, description: `container ${id} to be ${state}` });
  }

  async function exec(id: string, cmd: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    const result = await cri.execSync(id, cmd, 30);
    return { stdout: result.stdout.toString(), stderr: result.stderr.toString(), exitCode: result.exit_code };
  }

  /** The backend proxrun recorded for container `id` under its root, or undefined without a record. */
  function proxrunBackendOf(id: string): string | undefined {
    const file = path.join(containerd.runtimeRoot(PROXRUN_HANDLER), id, 'state.json');
    if (!existsSync(file)) return undefined;
    return (JSON.parse(readFileSync(file, 'utf8')) as { backend: string }).backend;
  }

  /**
   * A pod with shareProcessNamespace: a server (output on both streams, a listener on
   * localhost:8080, a trap for the stop signal), a client, a "loner" in a pid namespace of its
   * own, and a container that exits 3. Returns what it showed; asserts what must hold anywhere.
   */
  async function observePod(variant: Variant, slug: string): Promise<PodObservation> {
    const annotations: Record<string, string> = variant.backend ? { [BACKEND_ANNOTATION]: variant.backend } : {};
    const sandbox = await podConfig(slug, annotations, 'POD');
    const podId = await cri.runPodSandbox(sandbox, variant.handler);
    const podStatus = await cri.podSandboxStatus(podId, true);
    assert.equal(podStatus.status.state, 'SANDBOX_READY');
    const podIp = podStatus.status.network?.ip ?? '';
    assert.match(podIp, /^10\.88\.7\.\d+$/, 'PodSandboxStatus has no pod IP from the CNI range');
    assert.deepEqual(containerd.leases(), [podIp], 'host-local leased exactly the pod IP');
    const pausePid = infoPid(podStatus.info);
    const netnsPath = sandboxNetnsPath(podStatus.info);
    assert.ok((await containerd.mountsUnder(netnsPath)).includes(netnsPath), `pod netns ${netnsPath} is not pinned`);

    const create = async (config: ContainerConfig): Promise<string> => {
      const id = await cri.createContainer(podId, config, sandbox);
      await cri.startContainer(id);
      return id;
    };
    const server = await create(containerConfig('server', ['sh', '-c', SERVER_SCRIPT], 'POD'));
    const client = await create(containerConfig('client', ['sleep', '1000001'], 'POD'));
    const loner = await create(containerConfig('loner', ['sleep', '1000002'], 'CONTAINER'));
    const exited = await create(containerConfig('exited', ['sh', '-c', 'echo bye; exit 3'], 'POD'));
    const running = [server, client, loner];
    const pids: number[] = [pausePid];
    for (const id of running) pids.push(infoPid((await waitForState(id, 'CONTAINER_RUNNING')).info));
    const exitedStatus = await waitForState(exited, 'CONTAINER_EXITED');

    if (variant.backend) {
      // proxrun ran every container of the pod, on the backend the pod's annotation picked (the
      // exited container's runtime state is gone already: CRI deletes a task when it exits).
      for (const id of [podId, ...running]) {
        assert.equal(proxrunBackendOf(id), variant.backend, `proxrun's record of ${id} (root holds ${readRoot(containerd.runtimeRoot(PROXRUN_HANDLER)).join(', ')})`);
      }
      assert.deepEqual(backendsHolding(containerd.runtimeRoot(PROXRUN_HANDLER), server), [variant.backend]);
    } else {
      assert.equal(proxrunBackendOf(server), undefined, 'the reference pod must not go through proxrun');
    }

    // One exec per container: its hostname, its namespaces, and its eth0 addresses.
    const NS_TYPES = ['net', 'ipc', 'uts', 'pid'];
    const probe = `hostname; for t in ${NS_TYPES.join(' ')}; do readlink /proc/self/ns/$t; done; ip -4 -o addr show dev eth0`;
    const hostnames: string[] = [];
    const sharedWithPause: Record<string, boolean[]> = Object.fromEntries(NS_TYPES.map((type) => [type, []]));
    const podIpOnEth0: boolean[] = [];
    for (const id of running) {
      const seen = await exec(id, ['sh', '-c', probe]);
      assert.equal(seen.exitCode, 0, JSON.stringify(seen));
      const [hostname = '', ...rest] = seen.stdout.split('\n');
      hostnames.push(hostname);
      NS_TYPES.forEach((type, n) => {
        const link = rest[n] ?? '';
        assert.match(link, new RegExp(`^${type}:\\[\\d+\\]$`));
        sharedWithPause[type]?.push(link === nsLink(pausePid, type));
      });
      podIpOnEth0.push(rest.slice(NS_TYPES.length).join('\n').includes(` inet ${podIp}/`));
    }
    const lonerPidNsIsOwn = nsLink(pids[3] ?? 0, 'pid') !== nsLink(pausePid, 'pid') && nsLink(pids[3] ?? 0, 'pid') !== nsLink(process.pid, 'pid');

    const localhost = await pollFor(async () => {
      const reply = await exec(client, ['nc', '-w', '5', '127.0.0.1', '8080']);
      return reply.stdout === '' ? undefined : reply.stdout;
    }, { timeoutMs: 30_000, intervalMs: 200, description: 'the server to answer on localhost:8080' });

    const sharedPs = (await exec(client, ['ps', '-o', 'args'])).stdout;
    const lonerPs = (await exec(loner, ['ps', '-o', 'args'])).stdout;
    const seesOthers = (ps: string): boolean => ps.includes('sleep 2147483647') && ps.includes('nc -ll -p 8080');
    assert.ok(lonerPs.includes('sleep 1000002'), `the loner's ps lacks its own process:\n${lonerPs}`);

    const execSync = await exec(client, ['sh', '-c', 'echo exec-out; echo exec-err >&2; exit 4']);

    const serverLogFile = path.join(sandbox.log_directory ?? '', 'server.log');
    const serverLog = sortedLines(await criLogWith(serverLogFile, 2));
    const exitedLog = sortedLines(await criLogWith(exitedStatus.status.log_path, 1));

    await cri.stopContainer(server, 2);
    const stopped = await waitForState(server, 'CONTAINER_EXITED');
    const stopLog = (await criLogWith(serverLogFile, 4)).map((line) => `${line.stream} ${line.text}`).filter((line) => !['stdout out-line', 'stderr err-line'].includes(line));

    // Teardown as kubelet does it: stop, then remove the pod.
    const statePaths = [podId, ...running, exited].map((id) => path.join(containerd.runtimeRoot(variant.handler), id));
    await cri.stopPodSandbox(podId);
    await cri.removePodSandbox(podId);
    const stillAlive: number[] = [];
    for (const pid of pids) if (await isAlive(pid)) stillAlive.push(pid);
    const teardown = {
      podListed: (await cri.listPodSandboxes()).some((pod) => pod.id === podId),
      containersListed: (await cri.listContainers(podId)).length > 0,
      processesAlive: stillAlive.length > 0,
      runtimeStateLeft: statePaths.some((dir) => existsSync(dir)),
      netnsFileLeft: existsSync(netnsPath),
      netnsMountLeft: (await containerd.mountsUnder(netnsPath)).length > 0,
      leaseLeft: containerd.leases().includes(podIp),
    };

    return {
      hostnames,
      sharedWithPause,
      lonerPidNsIsOwn,
      podIpOnEth0,
      localhost,
      sharedPsSeesOthers: seesOthers(sharedPs),
      lonerPsSeesOthers: seesOthers(lonerPs),
      execSync,
      serverLog,
      exitedLog,
      exitedCode: exitedStatus.status.exit_code,
      stop: { exitCode: stopped.status.exit_code, log: stopLog },
      teardown,
    };
  }

  /** What every pod must show, whatever runs it. */
  function assertPodContract(seen: PodObservation, slug: string): void {
    assert.deepEqual(seen.hostnames, [`host-${slug}`, `host-${slug}`, `host-${slug}`], 'the containers share the pod hostname');
    assert.deepEqual(seen.sharedWithPause, {
      net: [true, true, true],
      ipc: [true, true, true],
      uts: [true, true, true],
      pid: [true, true, false],
    }, 'namespaces shared with the pod sandbox (server, client, loner)');
    assert.equal(seen.lonerPidNsIsOwn, true, 'the loner has a pid namespace of its own');
    assert.deepEqual(seen.podIpOnEth0, [true, true, true], 'the pod IP is on eth0 in every container');
    assert.equal(seen.localhost, 'pong\n', 'the client reaches the server over localhost');
    assert.equal(seen.sharedPsSeesOthers, true, 'with a shared pid namespace the client sees the sandbox and the server');
    assert.equal(seen.lonerPsSeesOthers, false, 'without it the loner sees neither');
    assert.deepEqual(seen.execSync, { stdout: 'exec-out\n', stderr: 'exec-err\n', exitCode: 4 });
    assert.deepEqual(seen.serverLog, ['stderr F err-line', 'stdout F out-line'], 'each stream lands in the CRI log, tagged');
    assert.deepEqual(seen.exitedLog, ['stdout F bye']);
    assert.equal(seen.exitedCode, 3, 'ContainerStatus shows the exit code');
    assert.deepEqual(seen.stop, { exitCode: 137, log: ['stdout got-TERM', 'stdout alive-after-TERM'] },
      'StopContainer sends the stop signal (trapped, the container lives on) then SIGKILL');
    assert.deepEqual(seen.teardown, {
      podListed: false,
      containersListed: false,
      processesAlive: false,
      runtimeStateLeft: false,
      netnsFileLeft: false,
      netnsMountLeft: false,
      leaseLeft: false,
    }, 'StopPodSandbox and RemovePodSandbox leave nothing');
  }

  function referenceObservation(): Promise<PodObservation> {
    reference ??= observePod(REFERENCE, 'ref-runc');
    return reference;
  }

  test(`a pod on ${REFERENCE.label} (the reference) keeps the CRI contract`, async () => {
    assertPodContract(await referenceObservation(), 'ref-runc');
  });

  for (const variant of THROUGH_PROXRUN) {
    test(`a pod on ${variant.label} shows what the same pod shows on runc itself`, async () => {
      const slug = `via-${variant.backend ?? 'none'}`;
      const seen = await observePod(variant, slug);
      assertPodContract(seen, slug);
      const expected = await referenceObservation();
      assert.deepEqual({ ...seen, hostnames: [] }, { ...expected, hostnames: [] });
    });
  }

  test('a container asking for another backend than its pod is refused by name, and nothing of it is left', async (t) => {
    const sandbox = await podConfig('mixed', { [BACKEND_ANNOTATION]: 'runc' }, 'CONTAINER');
    const podId = await cri.runPodSandbox(sandbox, PROXRUN_HANDLER);
    try {
      const first = await cri.createContainer(podId, containerConfig('first', ['sleep', '1000003'], 'CONTAINER', { [BACKEND_ANNOTATION]: 'runc' }), sandbox);
      await cri.startContainer(first);
      // CreateContainer only records the container in containerd; the runtime's create runs at StartContainer.
      const second = await cri.createContainer(podId, containerConfig('second', ['sleep', '1000004'], 'CONTAINER', { [BACKEND_ANNOTATION]: 'crun' }), sandbox);
      const refusal = /config\.json: \/annotations\/io\.proxrun\.backend: crun, but this container's pod \(sandbox [0-9a-f]{64}\) runs on runc: [^\n]*$/;
      await assert.rejects(cri.startContainer(second), (error: unknown) => {
        assert.ok(error instanceof CriError, String(error));
        assert.match(error.details, refusal);
        t.diagnostic(error.details);
        return true;
      });
      const status = await cri.containerStatus(second);
      assert.equal(status.status.state, 'CONTAINER_EXITED');
      assert.equal(status.status.reason, 'StartError');
      assert.match(status.status.message, refusal, 'ContainerStatus tells why, as kubelet shows it');
      assert.equal((await cri.containerStatus(first)).status.state, 'CONTAINER_RUNNING', 'the container that fits still runs');
      assert.deepEqual(readRoot(containerd.runtimeRoot(PROXRUN_HANDLER)).sort(), [podId, first].sort(),
        'proxrun holds records for the sandbox and the first container only');
      await cri.removeContainer(second);
      assert.deepEqual((await cri.listContainers(podId)).map((container) => container.metadata.name), ['first']);
    } finally {
      await cri.stopPodSandbox(podId);
      await cri.removePodSandbox(podId);
    }
    assert.deepEqual(readRoot(containerd.runtimeRoot(PROXRUN_HANDLER)), []);
  });

  test('a proxmox-vm pod is refused at RunPodSandbox with one line naming the annotation, and nothing is left', async (t) => {
    const sandbox = await podConfig('vm-pod', { [BACKEND_ANNOTATION]: 'proxmox-vm' }, 'CONTAINER');
    await assert.rejects(cri.runPodSandbox(sandbox, PROXRUN_HANDLER), (error: unknown) => {
      assert.ok(error instanceof CriError, String(error));
      assert.match(error.details, /config\.json: \/annotations\/io\.proxrun\.backend: proxmox-vm cannot run a Kubernetes pod: /);
      assert.ok(!error.details.includes('\n'), `more than one line: ${error.details}`);
      t.diagnostic(error.details);
      return true;
    });
    assert.deepEqual((await cri.listPodSandboxes()).map((pod) => pod.metadata.name), []);
    assert.deepEqual(containerd.leases(), [], 'the CNI address was given back');
    assert.deepEqual(await containerd.mountsUnder(path.join(containerd.stateDir, 'io.containerd.grpc.v1.cri', 'netns')), [], 'no pod network namespace is pinned');
    assert.deepEqual(readRoot(containerd.runtimeRoot(PROXRUN_HANDLER)), [], 'proxrun wrote nothing');
  });
});

/** Container folders under a runtime root (proxrun's lock folder is not one). */
function readRoot(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((name) => name !== '@locks');
}
