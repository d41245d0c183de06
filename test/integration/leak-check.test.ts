/**
 * The end-of-run check of scripts/run-tests.mjs (scripts/leak-check.mjs): what carries a run's marks
 * (its id in the environment, its folder in the command line, a mount or loop device in its folder, a
 * network namespace in its ledger) is found and removed; what does not (another run's or another
 * user's process, a mount elsewhere, a namespace not in the ledger) is neither reported nor touched.
 * And a run whose test leaves a process fails, naming it, and the process is gone afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/proxrun.js';
import { isAlive } from '../helpers/cleanup.js';
import { requireRoot } from '../helpers/host-setup.js';
import { cleanLeaks as clean, findLeaks as find, removeRunDir as removeDir } from '../../scripts/leak-check.mjs';

const PATH = process.env['PATH'] ?? '/usr/bin:/bin';
const idle = ['-e', 'setInterval(() => {}, 1 << 30)'];

function run(argv: string[]): void {
  const r = spawnSync(argv[0] ?? '', argv.slice(1), { encoding: 'utf8' });
  assert.equal(r.status, 0, `${argv.join(' ')}: ${r.stderr}`);
}

test("a run's leftovers are found by its marks and removed; nothing of anyone else is reported or touched", async () => {
  requireRoot('the leak check test (mounts, network namespaces)');
  const hex = randomBytes(4).toString('hex');
  const runId = `leaktest${hex}`;
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prt-leak-'));
  const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'prt-other-'));
  const ledgerFile = path.join(runDir, 'ledger');
  const ours = `prtleak-${hex}`;
  const theirs = `prtother-${hex}`;
  const children: ChildProcess[] = [];
  const start = (argv: string[], env: NodeJS.ProcessEnv): ChildProcess => {
    const child = spawn(argv[0] ?? '', argv.slice(1), { env, stdio: 'ignore', detached: true });
    children.push(child);
    return child;
  };
  try {
    const tagged = start(['sleep', '1000'], { PATH, PROXRUN_TEST_RUN: runId });
    const named = start([process.execPath, ...idle, path.join(runDir, 'marker')], { PATH });
    const other = start([process.execPath, ...idle, otherDir], { PATH, PROXRUN_TEST_RUN: `${runId}x` });
    fs.mkdirSync(path.join(runDir, 'mnt'));
    fs.mkdirSync(path.join(otherDir, 'mnt'));
    run(['mount', '-t', 'tmpfs', 'leaktest', path.join(runDir, 'mnt')]);
    run(['mount', '-t', 'tmpfs', 'leaktest', path.join(otherDir, 'mnt')]);
    run(['ip', 'netns', 'add', ours]);
    run(['ip', 'netns', 'add', theirs]);
    fs.writeFileSync(ledgerFile, `netns ${ours}\nnetns prtgone-${hex}\n`);
    for (const child of [tagged, named, other]) {
      assert.ok(child.pid !== undefined && (await isAlive(child.pid)), 'a test process did not start');
    }

    const leaks = find({ runId, runDir, ledgerFile });
    const seen = leaks.map((l) => `${l.kind} ${l.pid ?? l.mount ?? l.netns ?? ''}`).sort();
    assert.deepEqual(seen, [
      `mount ${path.join(runDir, 'mnt')}`,
      `network namespace ${ours}`,
      `process ${String(named.pid)}`,
      `process ${String(tagged.pid)}`,
    ].sort());
    assert.ok(leaks.every((l) => l.what.length > 0), 'every leftover is named');

    clean(leaks, { repoRoot: REPO_ROOT });
    assert.deepEqual(find({ runId, runDir, ledgerFile }), []);
    assert.equal(await isAlive(tagged.pid ?? 0), false);
    assert.equal(await isAlive(named.pid ?? 0), false);
    assert.equal(await isAlive(other.pid ?? 0), true, 'a process of another run was ended');
    assert.ok(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${path.join(otherDir, 'mnt')} `), 'a mount elsewhere was removed');
    assert.ok(fs.existsSync(`/run/netns/${theirs}`), 'a namespace not in the ledger was removed');
    assert.equal(removeDir(runDir), true);
    assert.equal(fs.existsSync(runDir), false);
  } finally {
    for (const child of children) {
      try {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync('umount', ['-l', path.join(runDir, 'mnt')]);
    spawnSync('umount', ['-l', path.join(otherDir, 'mnt')]);
    spawnSync('ip', ['netns', 'delete', ours]);
    spawnSync('ip', ['netns', 'delete', theirs]);
    fs.rmSync(runDir, { recursive: true, force: true });
    fs.rmSync(otherDir, { recursive: true, force: true });
  }
});

test('a run whose test leaves a process fails, naming it, and ends it', async () => {
  const fixture = path.join(REPO_ROOT, 'test/integration/fixtures/leaves-a-process.ts');
  // A run of its own: without the marker by which node's runner refuses to run inside a test file.
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT'];
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts/run-tests.mjs'), fixture], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 120_000 });
  const pid = Number(/process pid (\d+): sleep 1000/.exec(r.stderr)?.[1]);
  // The sleep this run started, recognised by its pid and command line, if the check did not end it.
  const left = Number.isInteger(pid) && (await isAlive(pid)) && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\u00001000\u0000';
  if (left) process.kill(pid, 'SIGKILL');
  assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /run-tests: the tests left 1 thing\(s\) of their own behind:\nrun-tests: {3}process pid \d+: sleep 1000\n/);
  assert.match(r.stderr, /run-tests: removed them all/);
  assert.match(r.stdout, /run-tests: 1 passed, 0 failed, 0 skipped, 1 leftover\(s\)/);
  assert.equal(left, false, 'the left process still ran after the check');
});
