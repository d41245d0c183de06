/**
 * Many proxrun processes at once on one state root: different ids in parallel, and one id
 * deleted by many at the same time (containerd's second delete --force races the first).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeResult, runCommand, type CommandResult } from '../helpers/exec.js';
import { requireCommands } from '../helpers/host-setup.js';
import { leftovers, makeBundle, PROXRUN_BIN, requireBuilt, tempDir } from '../helpers/proxrun.js';

const base = tempDir('proxrun-concurrency-');
let bundle = '';
const root = path.join(base, 'root');

function px(args: readonly string[]): Promise<CommandResult> {
  return runCommand([PROXRUN_BIN, '--root', root, ...args], { timeoutMs: 120_000 });
}

let outputs = 0;
/**
 * create with its output in files: a created container's process keeps create's stdout and
 * stderr until it runs, so pipes would not close while it waits for start.
 */
async function create(id: string): Promise<{ exitCode: number | null; stderr: string }> {
  const err = path.join(base, `create-${++outputs}.err`);
  const result = await runCommand(['sh', '-c', 'exec "$@" </dev/null >/dev/null 2>"$0"', err, PROXRUN_BIN, '--root', root, 'create', '--bundle', bundle, id], { timeoutMs: 120_000 });
  return { exitCode: result.exitCode, stderr: fs.readFileSync(err, 'utf8') };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await fn(items[index] as T);
      }
    }),
  );
  return results;
}

describe('concurrent commands', () => {
  
  before(async () => {
    requireBuilt();
    await requireCommands(['runc']);
    bundle = await makeBundle(path.join(base, 'bundle'), { backend: 'runc', args: ['true'] });
  });

  after(async () => {
    for (const id of leftovers(root)) await px(['delete', '--force', id]);
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('50 creates and deletes of different ids succeed and leave no stray state', async () => {
    // Ids unique to this run: runc names cgroups after the id, whatever the root.
    const ids = Array.from({ length: 50 }, (_, i) => `par-${process.pid}-${i}`);
    const created = await inParallel(ids, 16, (id) => create(id));
    created.forEach((r) => assert.equal(r.exitCode, 0, r.stderr));
    assert.deepEqual(leftovers(root).sort(), [...ids].sort());
    const deleted = await inParallel(ids, 16, (id) => px(['delete', '--force', id]));
    deleted.forEach((r) => assert.equal(r.exitCode, 0, describeResult(r)));
    assert.deepEqual(leftovers(root), []);
    assert.deepEqual(fs.readdirSync(path.join(root, '@locks')), [], 'no lock left behind');
  });

  it('10 concurrent delete --force of one id all succeed and the container is gone', async () => {
    const id = `shared-${process.pid}`;
    assert.equal((await create(id)).exitCode, 0);
    const results = await Promise.all(Array.from({ length: 10 }, () => px(['delete', '--force', id])));
    results.forEach((r) => {
      assert.equal(r.exitCode, 0, describeResult(r));
      assert.equal(r.stderr, '');
    });
    assert.deepEqual(leftovers(root), []);
    const state = await px(['state', id]);
    assert.equal(state.exitCode, 1);
    assert.match(state.stderr, /does not exist/);
  });

  it('two creates of one id: exactly one wins, the other gets runc\'s "already exists" message', async () => {
    const id = `twice-${process.pid}`;
    const results = await Promise.all([create(id), create(id)]);
    const codes = results.map((r) => r.exitCode).sort();
    assert.deepEqual(codes, [0, 1], results.map((r) => r.stderr).join('\n'));
    const loser = results.find((r) => r.exitCode === 1);
    assert.equal(loser?.stderr, 'container with given ID already exists\n');
    assert.equal((await px(['delete', '--force', id])).exitCode, 0);
    assert.deepEqual(leftovers(root), []);
  });
});
