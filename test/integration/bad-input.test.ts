/**
 * Bad input of every kind: a one-line error naming the problem, exit 1, nothing created,
 * nothing left on disk, and exactly one error line in the --log file.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeResult, runCommand, type CommandResult } from '../helpers/exec.js';
import { leftovers, makeBundle, PROXRUN_BIN, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { proxrunToFiles } from '../helpers/pve-sim-env.js';

const base = tempDir('proxrun-bad-input-');
const root = path.join(base, 'root');
const log = path.join(base, 'log.json');
let counter = 0;

async function px(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<CommandResult> {
  fs.rmSync(log, { force: true });
  return runCommand([PROXRUN_BIN, '--root', root, '--log', log, '--log-format', 'json', ...args], { env: env ?? process.env });
}

/** Asserts the failure shape every bad input must have, and returns the message. */
function assertOneLineFailure(result: CommandResult, pattern: RegExp): void {
  assert.equal(result.exitCode, 1, describeResult(result));
  assert.equal(result.stdout, '');
  const lines = result.stderr.split('\n');
  assert.equal(lines.length, 2, `one line on stderr: ${JSON.stringify(result.stderr)}`);
  assert.equal(lines[1], '');
  assert.match(lines[0] ?? '', pattern);
  const logged = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { level: string; msg: string; time: string });
  assert.equal(logged.length, 1);
  assert.equal(logged[0]?.level, 'error');
  assert.equal(logged[0]?.msg, lines[0]);
  assert.ok(!Number.isNaN(Date.parse(logged[0]?.time ?? '')));
  assert.deepEqual(leftovers(root), [], 'nothing left in the state root');
}

async function bundleWith(edit: (config: Record<string, unknown>) => void): Promise<string> {
  return makeBundle(path.join(base, `b${++counter}`), { backend: 'runc', edit });
}

describe('bad input', () => {
  before(() => requireBuilt());
  after(() => fs.rmSync(base, { recursive: true, force: true }));

  it('malformed JSON', async () => {
    const dir = await bundleWith(() => undefined);
    fs.writeFileSync(path.join(dir, 'config.json'), '{"ociVersion": "1.0.2", ');
    assertOneLineFailure(await px(['create', '--bundle', dir, 'c1']), /^config\.json: invalid JSON: /);
  });

  it('a schema violation names the JSON path', async () => {
    const dir = await bundleWith((c) => { (c.process as Record<string, unknown>).args = 'sh'; });
    assertOneLineFailure(await px(['create', '--bundle', dir, 'c1']), /^config\.json: \/process\/args: must be an array/);
  });

  it('a spec rule the schema cannot express', async () => {
    const dir = await bundleWith((c) => { (c.process as Record<string, unknown>).cwd = 'relative/dir'; });
    assertOneLineFailure(await px(['create', '--bundle', dir, 'c1']), /^config\.json: \/process\/cwd: must be an absolute path/);
  });

  it('an unknown backend', async () => {
    const dir = await makeBundle(path.join(base, `b${++counter}`), { backend: 'docker' });
    assertOneLineFailure(await px(['create', '--bundle', dir, 'c1']), /unknown backend "docker"/);
  });

  it('a backend whose binary is missing', async () => {
    const dir = await bundleWith(() => undefined);
    const config = path.join(base, 'proxrun-missing-runc.json');
    fs.writeFileSync(config, JSON.stringify({ runc: { path: '/nonexistent/runc' } }));
    assertOneLineFailure(await px(['create', '--bundle', dir, 'c1'], { ...process.env, PROXRUN_CONFIG: config }), /backend runc: \/nonexistent\/runc .* is not an executable file/);
  });

  it('a malformed proxrun config names the file and field', async () => {
    const dir = await bundleWith(() => undefined);
    const config = path.join(base, 'proxrun-bad.json');
    fs.writeFileSync(config, JSON.stringify({ defaultBackend: 'lxd' }));
    assertOneLineFailure(await px(['create', '--bundle', dir, 'c1'], { ...process.env, PROXRUN_CONFIG: config }), new RegExp(`^proxrun config ${config}: /defaultBackend: `));
  });

  it('a missing bundle', async () => {
    assertOneLineFailure(await px(['create', '--bundle', path.join(base, 'nowhere'), 'c1']), /bundle .*nowhere does not exist/);
  });

  it('a bundle without config.json', async () => {
    const dir = path.join(base, 'empty-bundle');
    fs.mkdirSync(dir);
    assertOneLineFailure(await px(['create', '--bundle', dir, 'c1']), /config\.json/);
  });

  it('a missing rootfs', async () => {
    const dir = await bundleWith((c) => { (c.root as Record<string, unknown>).path = 'no-rootfs-here'; });
    assertOneLineFailure(await px(['create', '--bundle', dir, 'c1']), /^config\.json: \/root\/path: .*no-rootfs-here/);
  });

  it('a bad container id', async () => {
    const dir = await bundleWith(() => undefined);
    assertOneLineFailure(await px(['create', '--bundle', dir, '../escape']), /^invalid container ID format: "\.\.\/escape"/);
    assert.equal(fs.existsSync(path.join(base, 'escape')), false);
  });

  it('an id too long for a file name of the state root is refused up front with runc\'s message; 250 characters work', async () => {
    const dir = await bundleWith(() => undefined);
    for (const length of [251, 1024]) {
      assertOneLineFailure(await px(['create', '--bundle', dir, 'a'.repeat(length)]), new RegExp(`^invalid container ID format: ${length} characters, at most 250 `));
    }
    const longest = 'b'.repeat(250);
    try {
      // runc's init keeps create's stdout and stderr open: they go to files, not to pipes.
      const created = await proxrunToFiles(root, ['create', '--bundle', dir, longest], dir, process.env);
      assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    } finally {
      const deleted = await proxrunToFiles(root, ['delete', '--force', longest], dir, process.env);
      assert.equal(deleted.exitCode, 0, fs.readFileSync(deleted.stderrFile, 'utf8'));
    }
    assert.deepEqual(leftovers(root), []);
  });

  it('an id that looks like a flag is an id for runc too, never its --help', async () => {
    const dir = await bundleWith(() => undefined);
    try {
      const created = await proxrunToFiles(root, ['create', '--bundle', dir, '--', '--help'], dir, process.env);
      assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
      assert.equal(fs.readFileSync(created.stdoutFile, 'utf8'), '', 'runc printed its help instead of creating the container');
      const state = await px(['state', '--', '--help']);
      assert.equal(state.exitCode, 0, describeResult(state));
      const parsed = JSON.parse(state.stdout) as { id: string; status: string };
      assert.deepEqual([parsed.id, parsed.status], ['--help', 'created']);
    } finally {
      const deleted = await proxrunToFiles(root, ['delete', '--force', '--', '--help'], dir, process.env);
      assert.equal(deleted.exitCode, 0, fs.readFileSync(deleted.stderrFile, 'utf8'));
    }
    assert.deepEqual(leftovers(root), []);
  });

  it('a bad signal name', async () => {
    assertOneLineFailure(await px(['kill', 'c1', 'SIGBOGUS']), /unknown signal "SIGBOGUS"/);
  });

  it('an unknown flag and an unknown command', async () => {
    assertOneLineFailure(await px(['create', '--bundel', '/x', 'c1']), /unknown flag for create: --bundel/);
    assertOneLineFailure(await px(['frobnicate', 'c1']), /unknown command "frobnicate"/);
  });

  it('an unknown container: "does not exist", but delete --force succeeds quietly', async () => {
    for (const cmd of [['state', 'ghost'], ['start', 'ghost'], ['kill', 'ghost'], ['delete', 'ghost'], ['pause', 'ghost'], ['exec', 'ghost', 'true']]) {
      assertOneLineFailure(await px(cmd), /container does not exist/);
    }
    const forced = await px(['delete', '--force', 'ghost']);
    assert.equal(forced.exitCode, 0, describeResult(forced));
    assert.equal(forced.stderr, '');
    assert.equal(fs.existsSync(log), false, 'nothing logged on success');
  });

  it('checkpoint and restore refuse, even for --help (podman probes checkpoint --help)', async () => {
    assertOneLineFailure(await px(['checkpoint', '--help']), /checkpoint is not supported/);
    assertOneLineFailure(await px(['restore', 'c1']), /restore is not supported/);
  });

  it('validate prints every problem, one per line, and exits 1; a good config exits 0', async () => {
    const dir = await bundleWith((c) => {
      (c.process as Record<string, unknown>).cwd = 'rel';
      ((c.linux as Record<string, unknown>).maskedPaths as string[]).push('also-rel');
    });
    const bad = await runCommand([PROXRUN_BIN, '--root', root, 'validate', '--bundle', dir]);
    assert.equal(bad.exitCode, 1, describeResult(bad));
    const lines = bad.stdout.trim().split('\n');
    assert.equal(lines.length, 2, bad.stdout);
    assert.ok(lines.some((l) => /\/process\/cwd: must be an absolute path/.test(l)));
    assert.ok(lines.some((l) => /\/linux\/maskedPaths\/1: must be an absolute path/.test(l)));
    const good = await runCommand([PROXRUN_BIN, '--root', root, 'validate', path.join(await bundleWith(() => undefined), 'config.json')]);
    assert.equal(good.exitCode, 0, describeResult(good));
    assert.match(good.stdout, /valid for backend runc/);
    assert.deepEqual(leftovers(root), []);
  });
});
