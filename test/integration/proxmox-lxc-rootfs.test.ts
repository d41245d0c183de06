/**
 * Rootfs delivery in both modes on the simulator with real LXC. `archive`: the rootfs packed as an
 * OCI image layout tar (checked entry by entry), uploaded as a vztmpl, imported by Proxmox's create
 * (which marks the CT host-managed), the import's entrypoint/env removed again and exactly one of
 * each init key left, the template gone right after create. `directory`: a size=0 volume filled by
 * copy. In both, the app sees the bundle's files with their owners (uid 1000 stays 1000 inside the
 * unprivileged CT), runs as the OCI user in the OCI cwd with the OCI env, and delete leaves nothing.
 * Archive delivery runs over the API transport and over the CLI; directory over the API.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildOciArchive, imageConfigOf } from '../../src/backends/proxmox-lxc/rootfs/rootfs-archive.js';
import { monitorDirsOf, proxrunToFiles, recordedExitStatus, startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { describeResult, pollFor } from '../helpers/exec.js';
import { busyboxRootfs } from '../helpers/rootfs-cache.js';
import { assertAllRequestsPassedSchema } from '../pve-sim/schema-audit.js';

const VMID_RANGE: readonly [number, number] = [645000, 649999];

describe('proxmox-lxc rootfs delivery', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let root: string;
  let work: string;
  let rootfs: string;

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE, transport: 'api' });
    root = tempDir('proxrun-pverootfs-root-');
    work = tempDir('proxrun-pverootfs-work-');
    // A rootfs of our own: the shared busybox tree plus a folder and file owned by uid/gid 1000.
    rootfs = path.join(work, 'rootfs');
    execFileSync('cp', ['-a', `${await busyboxRootfs()}/.`, `${rootfs}/`]);
    fs.mkdirSync(path.join(rootfs, 'home/app'), { recursive: true });
    fs.writeFileSync(path.join(rootfs, 'home/app/data'), 'hello from the bundle\n');
    fs.chownSync(path.join(rootfs, 'home/app'), 1000, 1000);
    fs.chownSync(path.join(rootfs, 'home/app/data'), 1000, 1000);
  });

  after(async () => {
    const env = { ...process.env, PROXRUN_CONFIG: sim?.configFile };
    // The simulator stops (and its root goes) whatever failed before it.
    let destroyed: number[] = [];
    try {
      for (const id of leftovers(root)) await proxrun(root, ['delete', '--force', id], { env });
    } finally {
      destroyed = (await sim?.stop())?.destroyed ?? [];
    }
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
    assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
  });

  test('the archive is an OCI image layout without ./ prefixes, its config taken from process', async () => {
    const dir = path.join(work, 'pack');
    fs.mkdirSync(dir);
    const proc = { args: ['sh', '-c', 'echo hi'], env: ['A=1', 'B=two words'], cwd: '/home/app', user: { uid: 1000, gid: 1000 } };
    const archive = await buildOciArchive({ rootfs, process: proc, stopSignal: 'SIGQUIT', workDir: dir, fileName: 'x.tar' });
    const entries = execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).trim().split('\n');
    assert.ok(entries.includes('oci-layout') && entries.includes('index.json'), entries.join(' '));
    assert.ok(entries.every((e) => e === 'oci-layout' || e === 'index.json' || e.startsWith('blobs/')), entries.join(' '));
    const blobs = entries.filter((e) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(e));
    assert.equal(blobs.length, 3, 'layer, config and manifest');
    const out = path.join(dir, 'x');
    fs.mkdirSync(out);
    execFileSync('tar', ['-xf', archive, '-C', out]);
    const index = JSON.parse(fs.readFileSync(path.join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifestFile = path.join(out, 'blobs/sha256', (index.manifests[0]?.digest ?? '').slice(7));
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string; size: number }> };
    const config = JSON.parse(fs.readFileSync(path.join(out, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8')) as { config: Record<string, unknown> };
    // No Env: process.env stays out of a template file on the storage (the launcher sets it).
    assert.deepEqual(config.config, { StopSignal: 'SIGQUIT', Entrypoint: proc.args, WorkingDir: '/home/app', User: '1000:1000' });
    const layer = path.join(out, 'blobs/sha256', manifest.layers[0]?.digest.slice(7) ?? '');
    const layerEntries = execFileSync('tar', ['-tvf', layer, '--numeric-owner'], { encoding: 'utf8' });
    assert.match(layerEntries, / 1000\/1000 .* home\/app\/data\n/, 'owners are kept in the layer');
    assert.equal(/ \.\//.test(layerEntries), false, 'no ./ prefix in the layer');
    assert.equal(fs.statSync(layer).size, manifest.layers[0]?.size);
    // Values Proxmox would refuse (control characters) are left out rather than failing the create.
    assert.equal(imageConfigOf({ args: ['sh', '-c', 'a\nb'], cwd: '/' }, 'SIGTERM')['Entrypoint'], undefined);
  });

  const cases = [
    { name: 'archive-api', delivery: 'archive', transport: 'api' },
    { name: 'archive-cli', delivery: 'archive', transport: 'cli' },
    { name: 'directory-api', delivery: 'directory', transport: 'api' },
  ] as const;

  for (const c of cases) {
    test(`${c.delivery} delivery over ${c.transport}: files, owners, user, cwd and env reach the app; nothing left`, async () => {
      const config = sim.writeConfig(`${c.name}.json`, { rootfsDelivery: c.delivery, transport: c.transport });
      const env = { ...process.env, PROXRUN_CONFIG: config };
      const dir = await makeBundle(path.join(work, c.name), {
        args: ['sh', '-c', 'id -u; id -g; stat -c %u:%g /home/app/data; cat data; pwd; echo "$FOO"; exit 7'],
        edit: (spec) => {
          (spec['root'] as Record<string, unknown>)['path'] = rootfs;
          (spec['root'] as Record<string, unknown>)['readonly'] = false;
          const proc = spec['process'] as Record<string, unknown>;
          proc['user'] = { uid: 1000, gid: 1000 };
          proc['cwd'] = '/home/app';
          proc['capabilities'] = { bounding: ['CAP_KILL'] };
          proc['env'] = ['PATH=/bin:/usr/bin', 'FOO=bar baz'];
        },
      });
      const created = await proxrunToFiles(root, ['create', '--bundle', dir, c.name], dir, env);
      assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
      const st = JSON.parse((await proxrun(root, ['state', c.name], { env })).stdout) as { annotations: Record<string, string> };
      const vmid = Number(st.annotations['io.proxrun.pve.vmid']);
      assert.deepEqual(sim.templates(), [], 'the uploaded template is removed right after create');

      const conf = fs.readFileSync(path.join(sim.pveDir, 'nodes', sim.node, 'lxc', `${vmid}.conf`), 'utf8');
      const lines = (key: string): string[] => conf.split('\n').filter((l) => l.startsWith(`${key}:`));
      assert.equal(lines('entrypoint').length, 0, conf);
      assert.equal(lines('env').length, 0, conf);
      for (const key of ['lxc.init.cmd', 'lxc.init.uid', 'lxc.init.gid', 'lxc.signal.halt']) assert.equal(lines(key).length, 1, `${key} once:\n${conf}`);
      assert.equal(lines('lxc.environment.runtime').length, 0, conf);
      const ostemplates = fs.readFileSync(path.join(sim.root, 'requests.jsonl'), 'utf8').match(new RegExp(`vztmpl/proxrun-(rootfs|base)-${c.name}-`, 'g')) ?? [];
      assert.ok(ostemplates.length > 0, 'the create request names the uploaded template');
      assert.ok(ostemplates.every((t) => t.includes(c.delivery === 'archive' ? 'rootfs' : 'base')), ostemplates.join(' '));

      const started = await proxrun(root, ['start', c.name], { env });
      assert.equal(started.exitCode, 0, describeResult(started));
      assert.equal(await pollFor(() => recordedExitStatus(vmid), { timeoutMs: 30_000, description: 'the exit status' }), 7);
      await pollFor(() => (fs.readFileSync(created.stdoutFile, 'utf8').includes('bar baz') ? true : undefined), { timeoutMs: 60_000, description: 'the output' });
      assert.equal(fs.readFileSync(created.stdoutFile, 'utf8'), '1000\n1000\n1000:1000\nhello from the bundle\n/home/app\nbar baz\n');
      assert.equal(fs.readFileSync(created.stderrFile, 'utf8'), '');

      const deleted = await proxrun(root, ['delete', c.name], { env });
      assert.equal(deleted.exitCode, 0, describeResult(deleted));
      assert.deepEqual(sim.ctVmids(), []);
      assert.deepEqual(sim.lxcContainers(), []);
      assert.deepEqual(sim.volumes(), []);
      assert.deepEqual(sim.templates(), []);
      assert.deepEqual(monitorDirsOf(vmid), []);
      assert.deepEqual(leftovers(root), []);
    });
  }

  test('every request passed the official API schema', () => {
    assertAllRequestsPassedSchema(sim.root);
  });
});
