/**
 * proxrun with the proxmox-vm backend against the Proxmox VE simulator, which runs the VMs with
 * real QEMU (TCG): create boots the VM to the guest's start gate and nothing of the payload runs;
 * start runs it; stdout and stderr come back apart through the monitor (which inherits proxrun's
 * fds, as it inherits a shim's pipes) and the exit status is recorded; env, cwd, user, hostname,
 * read-only root, rlimits, memory and cores are honoured; a trapped SIGTERM is delivered; exec is
 * refused; a share the read-only root has no directory for fails create with the guest's reason;
 * faults at the Proxmox steps of create fail naming the step; nothing is left behind.
 * One VM at a time.
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

const VMID_RANGE: readonly [number, number] = [670000, 670999];
import { VM_RUN_BASE } from '../../src/backends/proxmox-vm/settings.js';
const BOOT_MS = 120_000;

interface StateJson {
  status: string;
  pid: number;
  annotations?: Record<string, string>;
}

describe('proxrun → proxmox-vm (simulator, real QEMU)', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let work: string;
  let root: string;
  let env: NodeJS.ProcessEnv;
  let vmDirsBefore: Set<string>;
  let counter = 0;

  const vmConfDir = (): string => path.join(sim.pveDir, 'nodes', sim.node, 'qemu-server');
  const vmVmids = (): number[] => {
    try {
      return fs.readdirSync(vmConfDir()).filter((n) => /^\d+\.conf$/.test(n)).map((n) => Number.parseInt(n, 10));
    } catch {
      return [];
    }
  };
  const vmDirs = (): string[] => (fs.existsSync(VM_RUN_BASE) ? fs.readdirSync(VM_RUN_BASE) : []);
  const qemuProcesses = (): string[] => {
    const out = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
    return out.split('\n').filter((line) => line.includes('qemu-system') && line.includes(sim.root));
  };
  const state = async (id: string): Promise<StateJson> => {
    const r = await proxrun(root, ['state', id], { env });
    assert.equal(r.exitCode, 0, describeResult(r));
    return JSON.parse(r.stdout) as StateJson;
  };
  const vmDirOf = (id: string): string => {
    const data = JSON.parse(fs.readFileSync(path.join(root, id, 'proxmox-vm.json'), 'utf8')) as { vmDir: string };
    return data.vmDir;
  };
  const exitStatus = (id: string): Promise<number> =>
    pollFor(() => {
      const text = fs.readFileSync(path.join(vmDirOf(id), 'exit-status'), 'utf8');
      return /^\d+$/.test(text) ? Number(text) : undefined;
    }, { timeoutMs: BOOT_MS, description: `the exit status of ${id}` });
  /** The VM's disk as a host file (`pvesm path` of the volume in `virtio0`). */
  const diskPath = (vmid: number): string => {
    const conf = sim.tool('qm', ['config', String(vmid)]);
    const volid = /^virtio0: ([^,\s]+)/m.exec(conf.stdout)?.[1];
    assert.ok(volid, `no virtio0 in qm config: ${conf.stdout}`);
    const found = sim.tool('pvesm', ['path', volid]);
    assert.equal(found.code, 0, found.stderr);
    return found.stdout.trim();
  };
  const imageHas = (image: string, file: string): boolean => {
    const r = spawnSync('/sbin/debugfs', ['-R', `stat ${file}`, image], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return !r.stderr.includes('File not found');
  };
  const nextId = (name: string): string => `vm-${name}-${process.pid}-${(counter += 1)}`;

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE, timeoutSeconds: 120 });
    work = tempDir('proxrun-vm-life-');
    root = path.join(work, 'state');
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
    vmDirsBefore = new Set(vmDirs());
  });

  afterEach(async () => {
    // Whatever a failed test left: delete --force every container, then check nothing is left.
    for (const id of leftovers(root)) await proxrun(root, ['delete', '--force', id], { env });
    assert.deepEqual(leftovers(root), [], 'containers left in the state root');
    assert.deepEqual(vmVmids(), [], 'VMs left in Proxmox');
    assert.deepEqual(sim.volumes(), [], 'disks left on the storage');
    assert.deepEqual(vmDirs().filter((d) => !vmDirsBefore.has(d)), [], `folders left under ${VM_RUN_BASE}`);
    assert.deepEqual(qemuProcesses(), [], 'QEMU processes left');
  });

  after(async () => {
    if (sim === undefined) return;
    const vms = vmVmids();
    for (const vmid of vms) {
      sim.tool('qm', ['stop', String(vmid)]);
      sim.tool('qm', ['destroy', String(vmid), '--purge', '1']);
    }
    try {
      assertAllRequestsPassedSchema(sim.root);
    } finally {
      await sim.stop();
      fs.rmSync(work, { recursive: true, force: true });
    }
    assert.deepEqual(vms, [], 'VMs were left in the simulator');
  });

  test('create boots to the gate without running the payload; start runs it; output apart, exit 3, memory and cores in qm config; delete leaves nothing', async () => {
    const id = nextId('split');
    const bundle = await makeBundle(path.join(work, id), {
      backend: 'proxmox-vm',
      args: ['sh', '-c', 'echo ran > /created-marker; echo out; echo err >&2; seq 1 3000; echo "cpus=$(grep -c ^processor /proc/cpuinfo)"; exit 3'],
      edit: (config) => {
        (config['root'] as Record<string, unknown>)['readonly'] = false;
        config['linux'] = { ...(config['linux'] as object), resources: { memory: { limit: 200 * 1024 * 1024 }, cpu: { quota: 150_000, period: 100_000 } } };
      },
    });
    const dir = path.join(work, `${id}.out`);
    fs.mkdirSync(dir);
    const pidFile = path.join(dir, 'pid');
    const created = await proxrunToFiles(root, ['create', '--bundle', bundle, '--pid-file', pidFile, id], dir, env, BOOT_MS);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    assert.match(fs.readFileSync(pidFile, 'utf8'), /^\d+$/, 'the pid file holds digits only');

    const afterCreate = await state(id);
    assert.equal(afterCreate.status, 'created');
    const vmid = Number(afterCreate.annotations?.['io.proxrun.pve.vmid']);
    assert.ok(vmid >= VMID_RANGE[0] && vmid <= VMID_RANGE[1], `VMID ${vmid} in the range`);
    assert.match(fs.readFileSync(`/proc/${afterCreate.pid}/cmdline`, 'utf8'), /qemu-system/, 'state pid is the VM\'s QEMU');
    const status = sim.tool('qm', ['status', String(vmid)]);
    assert.equal(status.stdout.trim(), 'status: running', 'the VM runs (waiting at the gate) after create');
    const config = sim.tool('qm', ['config', String(vmid)]).stdout;
    assert.match(config, /^memory: 200$/m, 'memory limit 200 MiB becomes VM memory');
    assert.match(config, /^cores: 2$/m, 'quota 150000/100000 becomes 2 cores');
    const image = diskPath(vmid);
    assert.equal(imageHas(image, '/created-marker'), false, 'nothing of the payload ran before start');
    assert.equal(fs.readFileSync(created.stdoutFile, 'utf8'), '', 'no output before start');

    const started = await proxrun(root, ['start', id], { env });
    assert.equal(started.exitCode, 0, describeResult(started));
    assert.equal(await exitStatus(id), 3);
    const stdout = fs.readFileSync(created.stdoutFile, 'utf8');
    const numbers = Array.from({ length: 3000 }, (_, i) => `${i + 1}\n`).join('');
    assert.equal(stdout, `out\n${numbers}cpus=2\n`, 'every line of a fast payload, in order, and 2 vCPUs in the guest');
    assert.equal(fs.readFileSync(created.stderrFile, 'utf8'), 'err\n');
    await pollFor(async () => ((await state(id)).status === 'stopped' ? true : undefined), { timeoutMs: 30_000, description: 'state stopped' });
    await pollFor(() => (sim.tool('qm', ['status', String(vmid)]).stdout.trim() === 'status: stopped' ? true : undefined), { timeoutMs: 30_000, description: 'the VM stopped after the guest powered off' });
    assert.equal(imageHas(image, '/created-marker'), true, 'the payload ran after start and wrote its disk');

    const deleted = await proxrun(root, ['delete', id], { env });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assert.equal(fs.existsSync(image), false, 'the VM disk is gone');
    const gone = await proxrun(root, ['state', id], { env });
    assert.notEqual(gone.exitCode, 0, 'the container is gone after delete');
    const again = await proxrun(root, ['delete', '--force', id], { env });
    assert.equal(again.exitCode, 0, `delete --force of a deleted container is quiet: ${describeResult(again)}`);
  });

  test('env, cwd, uid/gid, hostname, read-only root and RLIMIT_NOFILE reach the payload', async () => {
    const id = nextId('fields');
    const bundle = await makeBundle(path.join(work, id), {
      backend: 'proxmox-vm',
      args: ['sh', '-c', 'echo "uid=$(id -u) gid=$(id -g) cwd=$(pwd) host=$(hostname) foo=$FOO nofile=$(ulimit -n)"; touch /probe || echo readonly'],
      edit: (config) => {
        const process = config['process'] as Record<string, unknown>;
        process['user'] = { uid: 1000, gid: 1001 };
        process['cwd'] = '/tmp';
        process['env'] = ['PATH=/bin:/usr/bin', "FOO=a b'$c"];
        process['rlimits'] = [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 768 }];
        config['hostname'] = 'vm-host-1';
      },
    });
    const dir = path.join(work, `${id}.out`);
    fs.mkdirSync(dir);
    const created = await proxrunToFiles(root, ['create', '--bundle', bundle, id], dir, env, BOOT_MS);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    const started = await proxrun(root, ['start', id], { env });
    assert.equal(started.exitCode, 0, describeResult(started));
    assert.equal(await exitStatus(id), 0);
    const lines = fs.readFileSync(created.stdoutFile, 'utf8').split('\n');
    assert.equal(lines[0], "uid=1000 gid=1001 cwd=/tmp host=vm-host-1 foo=a b'$c nofile=512");
    assert.equal(lines[1], 'readonly', 'touch fails on the read-only root');
    assert.match(fs.readFileSync(created.stderrFile, 'utf8'), /Read-only file system/);
    const deleted = await proxrun(root, ['delete', id], { env });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
  });

  test('kill SIGTERM reaches a trap in the guest; exec is refused; ps lists QEMU', async () => {
    const id = nextId('term');
    const bundle = await makeBundle(path.join(work, id), {
      backend: 'proxmox-vm',
      args: ['sh', '-c', "trap 'echo got-term; exit 42' TERM; echo armed; while :; do sleep 1; done"],
    });
    const dir = path.join(work, `${id}.out`);
    fs.mkdirSync(dir);
    const created = await proxrunToFiles(root, ['create', '--bundle', bundle, id], dir, env, BOOT_MS);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    assert.equal((await proxrun(root, ['start', id], { env })).exitCode, 0);
    await pollFor(() => (fs.readFileSync(created.stdoutFile, 'utf8').includes('armed') ? true : undefined), { timeoutMs: 30_000, description: 'the trap armed' });
    const running = await state(id);
    assert.equal(running.status, 'running');

    const exec = await proxrun(root, ['exec', id, 'true'], { env });
    assert.notEqual(exec.exitCode, 0);
    assert.match(exec.stderr, /exec is not supported/);
    const ps = await proxrun(root, ['ps', '--format', 'json', id], { env });
    assert.equal(ps.exitCode, 0, describeResult(ps));
    assert.deepEqual(JSON.parse(ps.stdout), [running.pid], 'ps lists the QEMU process');

    const killed = await proxrun(root, ['kill', id, 'SIGTERM'], { env });
    assert.equal(killed.exitCode, 0, describeResult(killed));
    assert.equal(await exitStatus(id), 42, 'the trap ran and chose the status');
    assert.equal(fs.readFileSync(created.stdoutFile, 'utf8'), 'armed\ngot-term\n');
    const deleted = await proxrun(root, ['delete', id], { env });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
  });

  test('a share at a destination the read-only root lacks fails create with the guest\'s reason, and leaves nothing', async () => {
    const id = nextId('bind');
    const bundle = await makeBundle(path.join(work, id), {
      backend: 'proxmox-vm',
      edit: (config) => {
        (config['mounts'] as unknown[]).push({ destination: '/data', type: 'bind', source: work, options: ['rbind'] });
      },
    });
    const r = await proxrun(root, ['create', '--bundle', bundle, id], { env });
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /guest boot: the guest ended before reaching its start gate: no directory \/data for the virtiofs share prx-/, describeResult(r));
  });

  for (const fault of [
    { match: 'cli qm create', step: /create VM \d+/ },
    { match: 'task qmstart', step: /start VM \d+/ },
  ]) {
    test(`a fault at ${fault.match} fails create with one line naming the step and leaves nothing`, async () => {
      const id = nextId('fault');
      const bundle = await makeBundle(path.join(work, id), { backend: 'proxmox-vm' });
      sim.fault(['--match', fault.match, '--mode', 'error', '--message', 'injected fault', '--count', '1']);
      try {
        const r = await proxrun(root, ['create', '--bundle', bundle, id], { env });
        assert.notEqual(r.exitCode, 0, describeResult(r));
        const lines = r.stderr.trim().split('\n');
        assert.equal(lines.length, 1, `one line: ${r.stderr}`);
        assert.match(lines[0] ?? '', fault.step);
        assert.match(lines[0] ?? '', /injected fault/);
      } finally {
        sim.clearFaults();
      }
    });
  }
});
