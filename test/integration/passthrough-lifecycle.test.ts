/**
 * The whole lifecycle through proxrun with the runc and crun pass-through backends:
 * real runc and crun, a busybox rootfs, proxrun's own state root.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validateFeaturesSchema } from '../../src/oci/schema-validate.js';
import { HiddenCgroup2Namespace } from '../helpers/cgroup.js';
import { describeResult, pollFor, runCommand, startCommand, type CommandResult } from '../helpers/exec.js';
import { requireCommands } from '../helpers/host-setup.js';
import { leftovers, makeBundle, PROXRUN_BIN, requireBuilt, tempDir, type BundleOptions } from '../helpers/proxrun.js';

for (const backend of ['runc', 'crun'] as const) {
  describe(`proxrun with the ${backend} backend`, () => {
    let ns: Pick<HiddenCgroup2Namespace, 'enter' | 'stop'>;
    const base = tempDir(`proxrun-${backend}-`);
    const root = path.join(base, 'root');
    let counter = 0;

    before(async () => {
      requireBuilt();
      await requireCommands([backend]);
      // crun refuses this host's hybrid cgroup layout; it runs in a namespace where the v2 mount is hidden.
      ns = backend === 'crun' ? await HiddenCgroup2Namespace.start() : { enter: (argv) => [...argv], stop: async () => undefined };
    });

    after(async () => {
      for (const id of leftovers(root)) await px(['delete', '--force', id]);
      await ns.stop();
      fs.rmSync(base, { recursive: true, force: true });
    });

    function px(args: readonly string[], globals: readonly string[] = []): Promise<CommandResult> {
      return runCommand(ns.enter([PROXRUN_BIN, '--root', root, ...globals, ...args]), { timeoutMs: 60_000 });
    }

    /** create for a long-running container: its process keeps create's stdout, so that goes to a file, not to a pipe we wait on. */
    function createDetached(dir: string, id: string, extra: readonly string[] = []): Promise<CommandResult> {
      const argv = ns.enter([PROXRUN_BIN, '--root', root, 'create', '--bundle', dir, ...extra, id]);
      return runCommand(['sh', '-c', 'exec "$@" >"$0/output" 2>&1 </dev/null', dir, ...argv], { timeoutMs: 60_000 });
    }

    async function bundle(options: BundleOptions & { out?: string } = {}): Promise<{ dir: string; id: string }> {
      // Unique per run: runc and crun name cgroups after the id, whatever the root.
      const id = `${backend}-${process.pid}-${++counter}`;
      const dir = path.join(base, id);
      const out = options.out;
      await makeBundle(dir, {
        ...options,
        backend,
        edit: (config) => {
          if (out) (config.mounts as unknown[]).push({ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] });
          options.edit?.(config);
        },
      });
      return { dir, id };
    }

    async function stateOf(id: string): Promise<{ status: string; pid: number; annotations: Record<string, string> }> {
      const result = await px(['state', id]);
      assert.equal(result.exitCode, 0, describeResult(result));
      return JSON.parse(result.stdout) as { status: string; pid: number; annotations: Record<string, string> };
    }

    it('create leaves the process waiting, writes a digits-only pid file, and start runs it', async () => {
      const out = fs.mkdtempSync(path.join(base, 'out-'));
      const { dir, id } = await bundle({ args: ['sh', '-c', 'echo ran > /out/marker; echo hello'], out });
      const pidFile = path.join(dir, 'init.pid');
      const create = startCommand(ns.enter([PROXRUN_BIN, '--root', root, 'create', '--bundle', dir, '--pid-file', pidFile, id]));
      // create returns while the container keeps its stdout; wait for the pid file, then the state.
      const pidText = await pollFor(() => (fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8') : undefined), { timeoutMs: 30_000, description: 'the pid file' });
      assert.match(pidText, /^[0-9]+$/);
      const state = await pollFor(async () => {
        const s = await stateOf(id).catch(() => undefined);
        return s?.status === 'created' ? s : undefined;
      }, { timeoutMs: 30_000, description: 'status created' });
      assert.equal(state.pid, Number(pidText));
      assert.equal(state.annotations['io.proxrun.backend'], backend);
      assert.equal(fs.existsSync(path.join(out, 'marker')), false, 'the process ran before start');

      const start = await px(['start', id]);
      assert.equal(start.exitCode, 0, describeResult(start));
      assert.equal(start.stderr, '');
      const created = await create.finished;
      assert.equal(created.exitCode, 0, describeResult(created));
      assert.equal(created.stdout, 'hello\n', 'the container wrote to the stdout create was given');
      assert.equal(fs.readFileSync(path.join(out, 'marker'), 'utf8'), 'ran\n');
      await pollFor(async () => ((await stateOf(id)).status === 'stopped' ? true : undefined), { timeoutMs: 30_000, description: 'status stopped' });
      assert.equal((await stateOf(id)).pid, 0);

      const again = await px(['start', id]);
      assert.notEqual(again.exitCode, 0, 'a stopped container cannot start again');
      const del = await px(['delete', id]);
      assert.equal(del.exitCode, 0, describeResult(del));
      assert.ok(!leftovers(root).includes(id), `${id} left in ${root}`);
    });

    it('kill stops a running container; kill on a stopped one fails with "container not running", kill --all succeeds', async () => {
      const { dir, id } = await bundle({ args: ['sleep', '1000'] });
      assert.equal((await createDetached(dir, id)).exitCode, 0);
      assert.equal((await px(['start', id])).exitCode, 0);
      assert.equal((await stateOf(id)).status, 'running');
      const kill = await px(['kill', id, 'KILL']);
      assert.equal(kill.exitCode, 0, describeResult(kill));
      await pollFor(async () => ((await stateOf(id)).status === 'stopped' ? true : undefined), { timeoutMs: 30_000, description: 'status stopped' });
      const log = path.join(base, `${id}.log.json`);
      const again = await px(['kill', id, '15'], ['--log', log, '--log-format', 'json']);
      assert.equal(again.exitCode, 1);
      assert.match(again.stderr, /container not running/);
      const logged = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string });
      assert.equal(logged.filter((l) => l.level === 'error').length, 1);
      assert.match(logged[logged.length - 1]?.msg ?? '', /container not running/);
      const all = await px(['kill', '--all', id, '9']);
      assert.equal(all.exitCode, 0, describeResult(all));
      assert.equal((await px(['delete', id])).exitCode, 0);
    });

    it('exec runs a process with its own output and status; ps lists host pids; pause and resume', async () => {
      const { dir, id } = await bundle({ args: ['sleep', '1000'] });
      const pidFile = path.join(dir, 'init.pid');
      assert.equal((await createDetached(dir, id, ['--pid-file', pidFile])).exitCode, 0);
      assert.equal((await px(['start', id])).exitCode, 0);
      // An absolute path: crun's exec does not take PATH from the container's env.
      const exec = await px(['exec', '--env', 'X=from-exec', id, '/bin/sh', '-c', 'echo "$X"; echo err >&2; exit 4']);
      assert.equal(exec.exitCode, 4, describeResult(exec));
      assert.equal(exec.stdout, 'from-exec\n');
      assert.equal(exec.stderr, 'err\n');

      const processFile = path.join(dir, 'process.json');
      fs.writeFileSync(processFile, JSON.stringify({ args: ['sh', '-c', 'exit 0'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } }));
      const execPid = path.join(dir, 'exec.pid');
      const detached = await px(['exec', '--process', processFile, '--detach', '--pid-file', execPid, id]);
      assert.equal(detached.exitCode, 0, describeResult(detached));
      assert.match(fs.readFileSync(execPid, 'utf8'), /^[0-9]+$/);

      const ps = await px(['ps', '--format', 'json', id]);
      assert.equal(ps.exitCode, 0, describeResult(ps));
      const pids = JSON.parse(ps.stdout) as number[];
      assert.ok(pids.includes(Number(fs.readFileSync(pidFile, 'utf8'))), `ps lists the init pid: ${ps.stdout}`);

      assert.equal((await px(['pause', id])).exitCode, 0);
      assert.equal((await stateOf(id)).status, 'paused');
      assert.equal((await px(['resume', id])).exitCode, 0);
      assert.equal((await stateOf(id)).status, 'running');

      const update = await runCommand(ns.enter([PROXRUN_BIN, '--root', root, 'update', '--resources', '-', id]), { input: '{"pids":{"limit":200}}' });
      assert.equal(update.exitCode, 0, describeResult(update));

      const notStopped = await px(['delete', id]);
      assert.equal(notStopped.exitCode, 1);
      assert.match(notStopped.stderr, /not stopped/);
      assert.equal((await px(['delete', '--force', id])).exitCode, 0);
      assert.equal((await px(['delete', '--force', id])).exitCode, 0, 'the second delete --force succeeds');
      const gone = await px(['state', id]);
      assert.equal(gone.exitCode, 1);
      assert.match(gone.stderr, /does not exist/);
      assert.ok(!leftovers(root).includes(id), `${id} left in ${root}`);
    });

    it('run waits for the process and exits with its status, leaving nothing', async () => {
      const { dir, id } = await bundle({ args: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
      const run = await px(['run', '--bundle', dir, id]);
      assert.equal(run.exitCode, 3, describeResult(run));
      assert.equal(run.stdout, 'out\n');
      assert.equal(run.stderr, 'err\n');
      assert.ok(!leftovers(root).includes(id), `${id} left in ${root}`);
    });

    it('list shows containers with their status, -q only ids', async () => {
      const { dir, id } = await bundle({ args: ['sleep', '1000'] });
      assert.equal((await createDetached(dir, id)).exitCode, 0);
      const quiet = await px(['list', '-q']);
      assert.ok(quiet.stdout.split('\n').includes(id), quiet.stdout);
      const json = JSON.parse((await px(['list', '--format', 'json'])).stdout) as Array<{ id: string; status: string }>;
      assert.deepEqual(json.filter((s) => s.id === id).map((s) => [s.id, s.status]), [[id, 'created']]);
      const table = (await px(['list'])).stdout.split('\n');
      assert.match(table[0] ?? '', /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER$/);
      assert.ok(table.some((line) => new RegExp(`^${id}\\s+[0-9]+\\s+created\\s+${dir}`).test(line)), table.join('\n'));
      // crun's own delete of a created container races its cgroup removal (EBUSY) under load: stop it first.
      assert.equal((await px(['kill', id, 'KILL'])).exitCode, 0);
      await pollFor(async () => ((await stateOf(id)).status === 'stopped' ? true : undefined), { timeoutMs: 30_000, description: 'status stopped' });
      const del = await px(['delete', id]);
      assert.equal(del.exitCode, 0, describeResult(del));
    });

    it('a failed create reports the child runtime\'s error once and leaves nothing', async () => {
      const { dir, id } = await bundle({ args: ['/no/such/binary'] });
      const log = path.join(base, `${id}.log.json`);
      const create = await px(['create', '--bundle', dir, id], ['--log', log, '--log-format', 'json']);
      assert.notEqual(create.exitCode, 0, describeResult(create));
      assert.ok(fs.existsSync(log), `no log written: ${describeResult(create)}`);
      assert.ok(!leftovers(root).includes(id), `${id} left in ${root}`);
      const errors = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string }).filter((l) => l.level === 'error');
      assert.equal(errors.length, 1, 'exactly one error line in the log');
      assert.equal((await px(['delete', '--force', id])).exitCode, 0);
    });
  });
}

describe('features', () => {
  it('prints features JSON that the features schema accepts, with proxrun\'s annotations', async () => {
    requireBuilt();
    const result = await runCommand([PROXRUN_BIN, 'features']);
    assert.equal(result.exitCode, 0, describeResult(result));
    const features = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.deepEqual(validateFeaturesSchema(features), []);
    assert.equal(features.ociVersionMin, '1.0.0');
    assert.equal((features.annotations as Record<string, string>)['io.proxrun.backends'], 'runc,crun,proxmox-lxc,proxmox-vm');
    assert.ok(Array.isArray(features.potentiallyUnsafeConfigAnnotations));
  });
});
