/**
 * The end-to-end harness itself: the cgroup v2 hiding does what crun needs without touching
 * the host, mount cleanup finds and removes mounts, and containerd (with and without its CRI
 * plugin) and podman instances that are stopped with a container or pod still running report it
 * and leave nothing behind.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HYBRID_V2_MOUNT, HiddenCgroup2Namespace, isHybridCgroup, withHiddenCgroup2 } from '../helpers/cgroup.js';
import { isAlive, mountsUnder, processesMentioning, removeDir, unmountUnder } from '../helpers/cleanup.js';
import { startContainerd } from '../helpers/containerd.js';
import { startCriContainerd } from '../helpers/cri/containerd-cri.js';
import { PAUSE_IMAGE, importTestImages } from '../helpers/cri/images.js';
import { Podman } from '../helpers/podman.js';
import { busyboxRootfs } from '../helpers/rootfs-cache.js';
import { describeResult, runChecked, runCommand } from '../helpers/exec.js';
import { requireCommands, requireRoot } from '../helpers/host-setup.js';

describe('hidden cgroup v2 mount', () => {
  test('a wrapped command does not see the v2 mount; the host still has it', async (t) => {
    requireRoot('unshare --mount');
    await requireCommands(['unshare', 'nsenter', 'umount']);
    const hybridBefore = isHybridCgroup();
    const inside = await withHiddenCgroup2(['cat', '/proc/self/mountinfo']);
    assert.equal(inside.exitCode, 0, describeResult(inside));
    const seenInside = inside.stdout.split('\n').some((line) => line.split(' ')[4] === HYBRID_V2_MOUNT);
    assert.equal(seenInside, false, `${HYBRID_V2_MOUNT} is still mounted inside`);
    assert.equal(isHybridCgroup(), hybridBefore, 'the host mounts changed');
    if (!hybridBefore) t.diagnostic('host is not hybrid: the command ran unwrapped');
  });

  test('a shared namespace keeps the v2 mount hidden for every entered command', async () => {
    requireRoot('unshare --mount');
    const namespace = await HiddenCgroup2Namespace.start();
    try {
      for (let i = 0; i < 2; i += 1) {
        const result = await runCommand(namespace.enter(['cat', '/proc/self/mountinfo']));
        assert.equal(result.exitCode, 0, describeResult(result));
        assert.equal(result.stdout.includes(` ${HYBRID_V2_MOUNT} `), false);
      }
    } finally {
      await namespace.stop();
    }
    const pid = namespace.pid;
    if (pid !== undefined) assert.equal(await isAlive(pid), false, 'the namespace holder is still alive');
  });
});

describe('mount cleanup', () => {
  test('finds a mount under a dir whose name has a space, and unmounts it', async () => {
    requireRoot('mount');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'proxrun harness-'));
    try {
      const target = path.join(dir, 'a b');
      await mkdir(target);
      await runChecked(['mount', '-t', 'tmpfs', 'harness', target]);
      assert.deepEqual(await mountsUnder(dir), [target]);
      await unmountUnder(dir);
      assert.deepEqual(await mountsUnder(dir), []);
    } finally {
      await removeDir(dir);
    }
    assert.equal(existsSync(dir), false);
  });
});

describe('stopping with a container still running', { timeout: 120_000 }, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  test('containerd: stop() reports the container and kills its shim and process', async () => {
    requireRoot('containerd');
    await requireCommands(['containerd', 'ctr', 'runc']);
    const rootfs = await busyboxRootfs();
    const containerd = await startContainerd();
    cleanups.push(() => containerd.stop());
    const started = await containerd.ctr.runDetached({ runtime: '/usr/sbin/runc', rootfs, id: 'left', args: ['/bin/sleep', '1000'] });
    assert.equal(started.exitCode, 0, describeResult(started));
    const task = await containerd.ctr.waitForTaskStatus('left', 'RUNNING');
    assert.equal((await processesMentioning(containerd.address)).length > 0, true, 'no shim found for the running task');

    const report = await containerd.stop();
    assert.deepEqual(report.containers, ['left']);
    assert.deepEqual(report.processes, []);
    assert.equal(await isAlive(task.pid), false, `container process ${task.pid} survived`);
    assert.deepEqual(await processesMentioning(containerd.dir), []);
    assert.equal(existsSync(containerd.dir), false);
  });

  test('podman: cleanup() reports the container, and no conmon or mount is left', async () => {
    requireRoot('podman');
    await requireCommands(['podman', 'conmon', 'runc']);
    const rootfs = await busyboxRootfs();
    const podman = await Podman.start({ runtime: '/usr/sbin/runc' });
    cleanups.push(() => podman.cleanup());
    const started = await podman.runDetached({ name: 'left', rootfs, args: ['/bin/sleep', '1000'] });
    assert.equal(started.exitCode, 0, describeResult(started));
    assert.equal((await processesMentioning(podman.dir)).some((proc) => proc.argv[0]?.endsWith('conmon')), true, 'no conmon found');
    assert.equal((await podman.mounts()).length > 0, true, 'podman mounted no shm for the running container');

    const report = await podman.cleanup();
    assert.deepEqual(report.containers, ['left']);
    assert.deepEqual(report.processes, []);
    assert.deepEqual(await processesMentioning(podman.dir), []);
    assert.deepEqual(await mountsUnder(podman.dir), []);
    assert.equal(existsSync(podman.dir), false);
  });

  test('containerd with CRI: stop() reports the pod, and no process, mount, lease, netns or dir is left', async () => {
    requireRoot('containerd');
    await requireCommands(['containerd', 'ctr', 'runc', 'ip', 'nsenter']);
    const containerd = await startCriContainerd({ handlers: [{ name: 'runc', binary: '/usr/sbin/runc' }], sandboxImage: PAUSE_IMAGE });
    cleanups.push(() => containerd.stop());
    await importTestImages(containerd);
    const podId = await containerd.cri.runPodSandbox({
      metadata: { name: 'left', uid: 'harness-left', namespace: 'default' },
      log_directory: await containerd.podLogDir('left'),
    }, 'runc');
    const status = await containerd.cri.podSandboxStatus(podId, true);
    const pausePid = (JSON.parse(status.info['info'] ?? '{}') as { pid?: number }).pid ?? 0;
    assert.ok(pausePid > 0 && (await isAlive(pausePid)), 'the pause process is not running');
    assert.equal(containerd.leases().length, 1, 'no address leased for the pod');
    assert.equal((await runCommand(['ip', 'netns', 'list'])).stdout.includes(containerd.netns), true);

    const report = await containerd.stop();
    assert.deepEqual(report.pods, [`${podId} default/left`]);
    assert.deepEqual([report.processes, report.mounts, report.leases, report.runtimeState], [[], [], [], []]);
    assert.equal(await isAlive(pausePid), false, `pause process ${pausePid} survived`);
    assert.deepEqual(await processesMentioning(containerd.dir), []);
    assert.equal((await runCommand(['ip', 'netns', 'list'])).stdout.includes(containerd.netns), false, 'the network namespace is still there');
    assert.equal(existsSync(containerd.dir), false);
  });
});
