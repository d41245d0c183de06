/**
 * Real podman and conmon drive the runtime under test (`podman --runtime BIN`) on a plain
 * rootfs, for each pass-through backend: output and exit codes, exec, stop and kill, and
 * nothing left behind.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Podman } from '../helpers/podman.js';
import { busyboxRootfs } from '../helpers/rootfs-cache.js';
import { describeResult, pollFor } from '../helpers/exec.js';
import { mountsUnder, processesMentioning } from '../helpers/cleanup.js';
import { backendsHolding } from './backend-evidence.js';
import { BACKEND_ANNOTATION, backendsUnderTest, defaultRootOfRuntimeUnderTest, requireE2eEnvironment, runtimeUnderTest } from './e2e-settings.js';

/** See ctr-passthrough.test.ts: PID 1 forwards TERM to its sleep and exits with its status. */
const FORWARD_TERM_SCRIPT = "trap 'kill -TERM $child; wait $child; exit $?' TERM; /bin/sleep 1000 & child=$!; wait $child";

for (const backend of backendsUnderTest()) {
  describe(`podman → ${runtimeUnderTest} → ${backend}`, { timeout: 180_000 }, () => {
    let podman: Podman;
    let rootfs: string;
    const annotations = { [BACKEND_ANNOTATION]: backend };

    before(async () => {
      await requireE2eEnvironment(['podman', 'conmon']);
      rootfs = await busyboxRootfs();
      podman = await Podman.start({ runtime: runtimeUnderTest, hideCgroup2: backend === 'crun' });
    });

    afterEach(async () => {
      const leftover = await podman.removeAll();
      assert.deepEqual(leftover, [], `containers left behind: ${leftover.join(', ')}`);
    });

    after(async () => {
      if (podman === undefined) return;
      const dir = podman.dir;
      const report = await podman.cleanup();
      assert.deepEqual(report, { containers: [], processes: [], mounts: [] }, 'podman left something behind');
      assert.deepEqual(await processesMentioning(dir), []);
      assert.deepEqual(await mountsUnder(dir), []);
      assert.equal(existsSync(dir), false, `${dir} still exists`);
    });

    test('run --rm: stdout, stderr and exit code 3 come back apart', async () => {
      const result = await podman.run({
        rootfs,
        annotations,
        args: ['/bin/sh', '-c', 'echo out; echo err >&2; exit 3'],
      });
      assert.equal(result.exitCode, 3, describeResult(result));
      assert.equal(result.stdout, 'out\n');
      assert.equal(result.stderr, 'err\n');
    });

    test('exec returns output and exit code', async () => {
      const started = await podman.runDetached({ name: 'exec', rootfs, annotations, args: ['/bin/sleep', '1000'] });
      assert.equal(started.exitCode, 0, describeResult(started));
      const id = await podman.containerId('exec');
      assert.deepEqual(backendsHolding(defaultRootOfRuntimeUnderTest(), id), [backend], `the container must run on ${backend}`);
      const result = await podman.execIn('exec', ['/bin/sh', '-c', 'echo fromexec; echo execerr >&2; exit 5']);
      assert.equal(result.exitCode, 5, describeResult(result));
      assert.equal(result.stdout, 'fromexec\n');
      assert.equal(result.stderr, 'execerr\n');
      const removed = await podman.rmForce('exec');
      assert.equal(removed.exitCode, 0, describeResult(removed));
    });

    test('stop delivers SIGTERM: the container exits 143 before the kill timeout', async () => {
      const started = await podman.runDetached({ name: 'stop', rootfs, annotations, args: ['/bin/sh', '-c', FORWARD_TERM_SCRIPT] });
      assert.equal(started.exitCode, 0, describeResult(started));
      // Once the sleep runs, the shell has set its trap.
      await pollFor(async () => {
        const ps = await podman.execIn('stop', ['/bin/ps']);
        return ps.exitCode === 0 && ps.stdout.includes('sleep 1000') ? true : undefined;
      }, { timeoutMs: 60_000, intervalMs: 100, description: 'the sleep to run in the container' });

      const stopped = await podman.stop('stop', 60);
      assert.equal(stopped.exitCode, 0, describeResult(stopped));
      assert.deepEqual(await podman.state('stop'), { status: 'exited', exitCode: 143 });
      const removed = await podman.rmForce('stop');
      assert.equal(removed.exitCode, 0, describeResult(removed));
    });

    test('kill ends a sleep with exit code 137', async () => {
      const started = await podman.runDetached({ name: 'kill', rootfs, annotations, args: ['/bin/sleep', '1000'] });
      assert.equal(started.exitCode, 0, describeResult(started));
      const killed = await podman.kill('kill', 'SIGKILL');
      assert.equal(killed.exitCode, 0, describeResult(killed));
      const state = await pollFor(async () => {
        const current = await podman.state('kill');
        return current.status === 'exited' ? current : undefined;
      }, { timeoutMs: 60_000, intervalMs: 100, description: 'the killed container to be exited' });
      assert.equal(state.exitCode, 137);
      const removed = await podman.rmForce('kill');
      assert.equal(removed.exitCode, 0, describeResult(removed));
    });
  });
}
