/**
 * Bind mounts through the proxmox-vm backend on the simulator (real QEMU, TCG, real virtiofsd):
 * a host directory becomes a Proxmox directory mapping plus `virtiofsN`, the simulator starts a
 * virtiofsd per share as qemu-server does, and the guest mounts it before the payload runs — a
 * file the payload writes appears on the host, a read-only share refuses writes; a bind-mounted
 * host file is copied into the disk image; a /dev/shm bind is the guest's tmpfs; pids.limit puts
 * the payload in a guest cgroup. Delete removes the VM and the mappings; no virtiofsd is left.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { proxrunToFiles, startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { describeResult, pollFor } from '../helpers/exec.js';
import { assertAllRequestsPassedSchema } from '../pve-sim/schema-audit.js';

const VMID_RANGE: readonly [number, number] = [690000, 690999];
const BOOT_MS = 120_000;

describe('proxrun → proxmox-vm bind mounts (simulator, real QEMU and virtiofsd)', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let work: string;
  let root: string;
  let env: NodeJS.ProcessEnv;

  const vmConfDir = (): string => path.join(sim.pveDir, 'nodes', sim.node, 'qemu-server');
  const vmVmids = (): number[] => (fs.existsSync(vmConfDir()) ? fs.readdirSync(vmConfDir()).filter((n) => /^\d+\.conf$/.test(n)).map((n) => Number.parseInt(n, 10)) : []);
  const mappingFile = (): string => path.join(sim.pveDir, 'mapping', 'directory.cfg');
  const mappings = (): string => (fs.existsSync(mappingFile()) ? fs.readFileSync(mappingFile(), 'utf8').trim() : '');
  const processes = (word: string): string[] =>
    spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line.includes(word) && line.includes(sim.root));
  const exitStatus = (id: string): Promise<number> => {
    const data = (JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as { backendData: { vmDir: string } }).backendData;
    return pollFor(() => {
      const text = fs.readFileSync(path.join(data.vmDir, 'exit-status'), 'utf8');
      return /^\d+$/.test(text) ? Number(text) : undefined;
    }, { timeoutMs: BOOT_MS, description: `the exit status of ${id}` });
  };

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE, timeoutSeconds: 120 });
    work = tempDir('proxrun-vm-mounts-');
    root = path.join(work, 'state');
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
  });

  afterEach(async () => {
    for (const id of leftovers(root)) await proxrun(root, ['delete', '--force', id], { env });
    assert.deepEqual(leftovers(root), [], 'containers left in the state root');
    assert.deepEqual(vmVmids(), [], 'VMs left in Proxmox');
    assert.equal(mappings(), '', 'directory mappings left');
    assert.deepEqual(sim.volumes(), [], 'disks left on the storage');
    assert.deepEqual(processes('qemu-system'), [], 'QEMU processes left');
    assert.deepEqual(processes('virtiofsd'), [], 'virtiofsd processes left');
  });

  after(async () => {
    if (sim === undefined) return;
    try {
      assertAllRequestsPassedSchema(sim.root);
    } finally {
      await sim.stop();
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  test('a rw share takes the payload\'s file, a ro share refuses writes, a bound file is copied, /dev/shm is tmpfs, pids.limit is a guest cgroup', async () => {
    const id = `vm-mounts-${process.pid}`;
    const rwDir = path.join(work, 'rw');
    const roDir = path.join(work, 'ro');
    const greeting = path.join(work, 'greeting');
    fs.mkdirSync(rwDir);
    fs.mkdirSync(roDir);
    fs.writeFileSync(path.join(roDir, 'in.txt'), 'from the host\n');
    fs.writeFileSync(greeting, 'hello from a bound file\n');
    const script = [
      'cat /etc/greeting',
      'echo written-in-the-guest > /data/out.txt',
      'cat /ro/in.txt',
      'if echo x > /ro/new.txt; then echo ro-writable; else echo ro-refused; fi',
      'grep -c "^tmpfs /dev/shm tmpfs" /proc/mounts',
      'cat /proc/self/cgroup',
    ].join('; ');
    const bundle = await makeBundle(path.join(work, id), {
      backend: 'proxmox-vm',
      args: ['sh', '-c', script],
      edit: (config) => {
        (config['root'] as Record<string, unknown>)['readonly'] = false;
        config['mounts'] = [
          ...(config['mounts'] as object[]),
          { destination: '/data', type: 'bind', source: rwDir, options: ['rbind', 'rw'] },
          { destination: '/ro', type: 'bind', source: roDir, options: ['rbind', 'ro'] },
          { destination: '/etc/greeting', type: 'bind', source: greeting, options: ['bind'] },
          { destination: '/dev/shm', type: 'bind', source: rwDir, options: ['bind'] },
        ];
        config['linux'] = { ...(config['linux'] as object), resources: { pids: { limit: 500 } } };
      },
    });
    const dir = path.join(work, `${id}.out`);
    fs.mkdirSync(dir);
    const created = await proxrunToFiles(root, ['create', '--bundle', bundle, id], dir, env, BOOT_MS);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    const vmid = vmVmids()[0];
    const config = sim.tool('qm', ['config', String(vmid)]).stdout;
    const ids = [...config.matchAll(/^virtiofs(\d): (\S+)$/gm)].map((m) => m[2] ?? '');
    assert.equal(ids.length, 2, `two virtiofs shares in the VM config: ${config}`);
    for (const mapping of ids) assert.match(mappings(), new RegExp(`^${mapping}$`, 'm'), `mapping ${mapping} in directory.cfg`);
    assert.match(mappings(), new RegExp(`map node=${sim.node},path=${rwDir}`));
    assert.equal(processes('virtiofsd').length >= 2, true, 'a virtiofsd per share runs with the VM');
    // The host file changes after create: the VM keeps the snapshot taken at create.
    fs.writeFileSync(greeting, 'changed after create\n');

    const started = await proxrun(root, ['start', id], { env });
    assert.equal(started.exitCode, 0, describeResult(started));
    assert.equal(await exitStatus(id), 0, fs.readFileSync(created.stderrFile, 'utf8'));
    const lines = fs.readFileSync(created.stdoutFile, 'utf8').split('\n');
    assert.deepEqual(lines.slice(0, 5), ['hello from a bound file', 'from the host', 'ro-refused', '1', '0::/proxrun']);
    assert.match(fs.readFileSync(created.stderrFile, 'utf8'), /Read-only file system/);
    assert.equal(fs.readFileSync(path.join(rwDir, 'out.txt'), 'utf8'), 'written-in-the-guest\n', 'the payload\'s file is on the host');
    assert.equal(fs.existsSync(path.join(roDir, 'new.txt')), false, 'nothing written into the read-only share');

    const deleted = await proxrun(root, ['delete', id], { env });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assert.equal(mappings(), '', 'delete removed the mappings');
  });

  test('a bind mount whose source is missing is refused naming the mount, before anything is made', async () => {
    const id = `vm-badshare-${process.pid}`;
    const bundle = await makeBundle(path.join(work, id), {
      backend: 'proxmox-vm',
      args: ['true'],
      edit: (config) => {
        config['mounts'] = [...(config['mounts'] as object[]), { destination: '/mnt', type: 'bind', source: path.join(work, 'no-such-dir'), options: ['rbind'] }];
      },
    });
    const index = 3;
    const created = await proxrun(root, ['create', '--bundle', bundle, id], { env });
    assert.notEqual(created.exitCode, 0);
    assert.match(created.stderr, new RegExp(`/mounts/${index}: a bind mount of .*no-such-dir at /mnt: the source is not an existing absolute path`), describeResult(created));
    assert.deepEqual(vmVmids(), [], 'no VM was created');
  });
});
