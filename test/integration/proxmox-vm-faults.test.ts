/**
 * Fault injection at each step of the proxmox-vm backend on the simulator (real QEMU under TCG,
 * real virtiofsd): VMID allocation (nextid), the disk image build (a failing mke2fs first on
 * proxrun's PATH), `qm create` (its task failing, the command hanging, the task hanging), the
 * `qm start` task failing, a guest that never reaches its start gate (a corrupt kernel that halts
 * in its decompressor), the VM status read failing once the guest waits at its gate, the monitor
 * unable to serve its command socket, `qm destroy` failing at delete and at the clean-up of a failed create (the state kept, a retry
 * cleans up), and QEMU killed under a running container (137, and delete still cleans up). Each
 * failure is one line naming the step, and afterwards nothing is left: no VM config, disk volume,
 * directory mapping, VM folder (per-VM initrd, sockets), QEMU, virtiofsd or monitor process, and
 * no proxrun state. One VM at a time.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { proxrunToFiles, startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { describeResult, pollFor } from '../helpers/exec.js';
import { assertAllRequestsPassedSchema } from '../pve-sim/schema-audit.js';
import { vmDirFor } from '../../src/backends/proxmox-vm/monitor/vm-dir.js';

const VMID_RANGE: readonly [number, number] = [860000, 860999];
import { VM_RUN_BASE } from '../../src/backends/proxmox-vm/settings.js';
const BOOT_MS = 120_000;
/** The guest kernel the backend picks by default (the newest Debian cloud kernel in /boot). */
const CLOUD_KERNEL = /^vmlinuz-.+-cloud-amd64$/;

interface StateJson {
  status: string;
  pid: number;
  annotations?: Record<string, string>;
}

/** Command lines of live processes (zombies excluded), by pid. */
function processes(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      out.set(Number(name), fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' '));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('proxmox-vm under faults at each step (simulator, real QEMU)', { timeout: 900_000 }, () => {
  let sim: PveSimEnv;
  let work: string;
  let root: string;
  let env: NodeJS.ProcessEnv;
  let counter = 0;
  /** Every container id a test used, so that the checks cover their VM folders. */
  const ids: string[] = [];

  const vmConfDir = (): string => path.join(sim.pveDir, 'nodes', sim.node, 'qemu-server');
  const vmVmids = (): number[] => {
    try {
      return fs.readdirSync(vmConfDir()).filter((n) => /^\d+\.conf$/.test(n)).map((n) => Number.parseInt(n, 10));
    } catch {
      return [];
    }
  };
  const mappingFile = (): string => path.join(sim.pveDir, 'mapping', 'directory.cfg');
  const mappings = (): string => (fs.existsSync(mappingFile()) ? fs.readFileSync(mappingFile(), 'utf8').trim() : '');
  const vmDirOf = (id: string): string => vmDirFor(VM_RUN_BASE, path.join(root, id));
  /** QEMU and virtiofsd of this simulator, and monitors of this file's VM folders. */
  const strayProcesses = (): string[] => {
    const dirs = ids.map(vmDirOf);
    return [...processes()]
      .filter(([pid, cmd]) => pid !== process.pid && (((cmd.includes('qemu-system') || cmd.includes('virtiofsd')) && cmd.includes(sim.root)) || dirs.some((d) => cmd.includes(d))))
      .map(([pid, cmd]) => `${pid} ${cmd.slice(0, 160)}`);
  };
  const assertNothingLeft = (): void => {
    assert.deepEqual(vmVmids(), [], 'VM config left in Proxmox');
    assert.deepEqual(sim.volumes(), [], 'disk volume left on the storage');
    assert.equal(mappings(), '', 'directory mapping left');
    assert.deepEqual(ids.map(vmDirOf).filter((d) => fs.existsSync(d)), [], `VM folder (per-VM initrd, sockets, monitor files) left under ${VM_RUN_BASE}`);
    assert.deepEqual(strayProcesses(), [], 'QEMU, virtiofsd or monitor process left');
    assert.deepEqual(leftovers(root), [], 'proxrun state left');
  };
  const nextId = (name: string): string => {
    counter += 1;
    const id = `vmf-${name}-${process.pid}-${counter}`;
    ids.push(id);
    return id;
  };
  const state = async (id: string): Promise<StateJson> => {
    const r = await proxrun(root, ['state', id], { env });
    assert.equal(r.exitCode, 0, describeResult(r));
    return JSON.parse(r.stdout) as StateJson;
  };
  /** A host directory shared into the VM, so that a mapping (and at start a virtiofsd) exists. */
  const shareDir = (): string => {
    const dir = path.join(work, 'share');
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  };
  const bundle = (id: string, options: { args?: string[]; share?: boolean } = {}): Promise<string> =>
    makeBundle(path.join(work, id), {
      backend: 'proxmox-vm',
      args: options.args ?? ['sh', '-c', 'echo must-not-run'],
      edit: (config) => {
        if (options.share === true) (config['mounts'] as unknown[]).push({ destination: '/var/tmp', type: 'bind', source: shareDir(), options: ['rbind', 'rw'] });
      },
    });

  /** Runs a create that must fail; asserts one stderr line and nothing left; returns the line. */
  const failingCreate = async (name: string, options: { fault?: string[]; config?: string; env?: NodeJS.ProcessEnv; share?: boolean; before?: (id: string) => void } = {}): Promise<string> => {
    const id = nextId(name);
    const dir = await bundle(id, options.share === true ? { share: true } : {});
    options.before?.(id);
    if (options.fault !== undefined) sim.fault(options.fault);
    const r = await proxrun(root, ['create', '--bundle', dir, id], {
      env: { ...env, ...options.env, ...(options.config !== undefined ? { PROXRUN_CONFIG: options.config } : {}) },
      timeoutMs: BOOT_MS,
    });
    sim.clearFaults();
    assert.notEqual(r.exitCode, 0, describeResult(r));
    assertNothingLeft();
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one error line expected:\n${r.stderr}`);
    assert.equal(r.stdout, '', 'nothing on stdout');
    return lines[0] ?? '';
  };

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE, timeoutSeconds: 120 });
    work = tempDir('proxrun-vm-faults-');
    root = path.join(work, 'state');
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
  });

  afterEach(async () => {
    sim.clearFaults();
    // Whatever a failed test left: delete --force every container, then check nothing is left.
    for (const id of leftovers(root)) await proxrun(root, ['delete', '--force', id], { env });
    assertNothingLeft();
  });

  after(async () => {
    if (sim === undefined) return;
    const vms = vmVmids();
    for (const vmid of vms) {
      sim.tool('qm', ['stop', String(vmid)]);
      sim.tool('qm', ['destroy', String(vmid), '--purge', '1']);
    }
    for (const id of ids) fs.rmSync(vmDirOf(id), { recursive: true, force: true });
    try {
      assertAllRequestsPassedSchema(sim.root);
    } finally {
      await sim.stop();
      fs.rmSync(work, { recursive: true, force: true });
    }
    assert.deepEqual(vms, [], 'VMs were left in the simulator');
  });

  test('nextid failing (VMID allocation)', async () => {
    const line = await failingCreate('nextid', { fault: ['--match', 'GET /cluster/nextid', '--mode', 'error', '--message', 'cluster filesystem not ready'], share: true });
    assert.match(line, /^proxmox-vm create: proxmox nextid: .*cluster filesystem not ready/);
  });

  test('the disk image build failing (mke2fs)', async () => {
    const fakeBin = path.join(work, 'fake-bin');
    fs.mkdirSync(fakeBin, { recursive: true });
    fs.writeFileSync(path.join(fakeBin, 'mke2fs'), '#!/bin/sh\necho "mke2fs: injected: cannot read the rootfs" >&2\nexit 1\n', { mode: 0o755 });
    const line = await failingCreate('mke2fs', { env: { PATH: `${fakeBin}:${process.env['PATH'] ?? ''}` } });
    assert.match(line, /^proxmox-vm create: disk image: mke2fs could not build \S+rootfs\.ext4 from \S+: mke2fs: injected: cannot read the rootfs$/);
  });

  test('the create task failing (the disk import is part of it)', async () => {
    const line = await failingCreate('qmcreate', { fault: ['--match', 'task qmcreate', '--mode', 'error', '--message', 'unable to import disk - no space left on device'], share: true });
    assert.match(line, /^proxmox-vm create: proxmox create VM 860\d{3}: .*unable to import disk - no space left on device$/);
  });

  test('qm create hanging ends after proxmox.timeoutSeconds', async () => {
    const config = sim.writeConfig('timeout-3.json', { timeoutSeconds: 3 });
    // The message names the configured timeout (the default would be 60 s); no clock is read here.
    const line = await failingCreate('qmhang', { fault: ['--match', 'cli qm create', '--mode', 'hang'], config });
    assert.match(line, /^proxmox-vm create: proxmox create VM 860\d{3}: timed out after 3 s$/);
  });

  test('the create task hanging (the VM config exists, locked) ends after proxmox.timeoutSeconds and the VM goes', async () => {
    const config = sim.writeConfig('timeout-3.json', { timeoutSeconds: 3 });
    const line = await failingCreate('taskhang', { fault: ['--match', 'task qmcreate', '--mode', 'hang'], config });
    assert.match(line, /^proxmox-vm create: proxmox create VM 860\d{3}: timed out after 3 s$/);
  });

  test('the start task failing', async () => {
    const line = await failingCreate('qmstart', { fault: ['--match', 'task qmstart', '--mode', 'error', '--message', 'start failed: QEMU exited with code 1'], share: true });
    assert.match(line, /^proxmox-vm create: proxmox start VM 860\d{3}: start failed: QEMU exited with code 1$/);
  });

  test('the start task failing and then the destroy of the clean-up failing once: the record stays, and the delete --force after the failed create removes the VM', async () => {
    const id = nextId('cleanup');
    const dir = await bundle(id, { share: true });
    sim.fault(['--match', 'task qmdestroy', '--mode', 'error', '--message', 'volume is busy', '--count', '1']);
    sim.fault(['--match', 'task qmstart', '--mode', 'error', '--message', 'start failed: QEMU exited with code 1', '--count', '1']);
    const r = await proxrun(root, ['create', '--bundle', dir, id], { env, timeoutMs: BOOT_MS });
    assert.notEqual(r.exitCode, 0, describeResult(r));
    assert.match(r.stderr.trim(), /^proxmox-vm create: proxmox start VM 860\d{3}: start failed: QEMU exited with code 1$/);
    assert.deepEqual(sim.faultRules(), [], 'both faults were hit');
    assert.deepEqual(leftovers(root), [id], 'the record stays, still marked creating');
    assert.equal(vmVmids().length, 1, 'the VM the failed clean-up could not destroy is still there');
    const deleted = await proxrun(root, ['delete', '--force', id], { env });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assertNothingLeft();
  });

  test('a guest that never reaches its start gate (a kernel whose compressed payload is corrupt halts in its decompressor)', async () => {
    const kernelName = fs.readdirSync('/boot').filter((n) => CLOUD_KERNEL.test(n)).sort().at(-1);
    assert.ok(kernelName, 'a Debian cloud kernel in /boot');
    // Same file name, so the same modules and cached initramfs. The start of the compressed payload
    // (boot protocol: setup_sects at 0x1f1, payload_offset at 0x248, from the protected-mode code)
    // is zeroed: the decompressor finds no valid header, prints its error and halts, every time.
    const kernel = fs.readFileSync(path.join('/boot', kernelName));
    const payload = ((kernel.readUInt8(0x1f1) || 4) + 1) * 512 + kernel.readUInt32LE(0x248);
    assert.ok(payload > 512 && payload + 4096 < kernel.length, `payload offset ${payload} inside the kernel`);
    kernel.fill(0, payload, payload + 4096);
    const kernelDir = path.join(work, 'corrupt-kernel');
    fs.mkdirSync(kernelDir, { recursive: true });
    fs.writeFileSync(path.join(kernelDir, kernelName), kernel);
    const config = sim.writeConfig('corrupt-kernel.json', { timeoutSeconds: 20, vm: { kernel: path.join(kernelDir, kernelName) } });
    const line = await failingCreate('noready', { config, share: true });
    assert.match(line, /^proxmox-vm create: guest boot: the guest did not reach its start gate within 20 s$/);
  });

  test('the VM status read after the guest reached its gate failing (the VM runs, the monitor holds it)', async () => {
    const line = await failingCreate('status', { fault: ['--match', 'GET /nodes/*/qemu/*/status/current', '--mode', 'error', '--message', 'service unavailable'], share: true });
    assert.match(line, /^proxmox-vm create: proxmox status VM 860\d{3}: .*service unavailable$/);
  });

  test('the monitor unable to serve its command socket (a stale monitor.sock in the VM folder)', async () => {
    const line = await failingCreate('monitor', {
      before: (id) => fs.mkdirSync(path.join(vmDirOf(id), 'monitor.sock'), { recursive: true }),
    });
    assert.match(line, /^proxmox-vm create: (start monitor|guest boot): .*monitor\.sock/);
  });

  test('qm destroy failing at delete: one line naming it, the state kept, a retry cleans up', async () => {
    const id = nextId('destroy');
    const dir = await bundle(id, { share: true });
    const out = path.join(work, `${id}.out`);
    fs.mkdirSync(out);
    const created = await proxrunToFiles(root, ['create', '--bundle', dir, id], out, env, BOOT_MS);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    assert.equal(vmVmids().length, 1, 'the VM exists after create');
    sim.fault(['--match', 'task qmdestroy', '--mode', 'error', '--message', 'volume is busy', '--count', '1']);
    const failed = await proxrun(root, ['delete', '--force', id], { env });
    assert.notEqual(failed.exitCode, 0, describeResult(failed));
    assert.equal(failed.stderr.trim().split('\n').length, 1, failed.stderr);
    assert.match(failed.stderr.trim(), /^proxmox-vm delete: proxmox destroy VM 860\d{3}: volume is busy$/);
    assert.deepEqual(leftovers(root), [id], 'the state stays so that delete can be retried');
    assert.equal(vmVmids().length, 1, 'the VM Proxmox refused to destroy is still there');
    const retried = await proxrun(root, ['delete', '--force', id], { env });
    assert.equal(retried.exitCode, 0, describeResult(retried));
    assertNothingLeft();
  });

  test('QEMU killed under a running container: the container reports 137 and delete cleans up', async () => {
    const id = nextId('qemukill');
    const dir = await bundle(id, { args: ['sh', '-c', 'echo up; while :; do sleep 1; done'], share: true });
    const out = path.join(work, `${id}.out`);
    fs.mkdirSync(out);
    const pidFile = path.join(out, 'pid');
    const created = await proxrunToFiles(root, ['create', '--bundle', dir, '--pid-file', pidFile, id], out, env, BOOT_MS);
    assert.equal(created.exitCode, 0, fs.readFileSync(created.stderrFile, 'utf8'));
    const monitorPid = Number(fs.readFileSync(pidFile, 'utf8'));
    assert.equal((await proxrun(root, ['start', id], { env })).exitCode, 0);
    await pollFor(() => (fs.readFileSync(created.stdoutFile, 'utf8') === 'up\n' ? true : undefined), { timeoutMs: 60_000, description: 'the payload running' });
    const running = await state(id);
    assert.equal(running.status, 'running');
    assert.match(fs.readFileSync(`/proc/${running.pid}/cmdline`, 'utf8'), /qemu-system/);
    process.kill(running.pid, 'SIGKILL');

    const status = await pollFor(() => {
      try {
        const text = fs.readFileSync(path.join(vmDirOf(id), 'exit-status'), 'utf8');
        return /^\d+$/.test(text) ? Number(text) : undefined;
      } catch {
        return undefined;
      }
    }, { timeoutMs: 30_000, description: 'the exit status recorded by the monitor' });
    assert.equal(status, 137, 'QEMU gone without an exit line is SIGKILL');
    await pollFor(() => (processes().has(monitorPid) ? undefined : true), { timeoutMs: 60_000, description: 'the monitor to exit' });
    await pollFor(async () => ((await state(id)).status === 'stopped' ? true : undefined), { timeoutMs: 30_000, description: 'state stopped' });
    const deleted = await proxrun(root, ['delete', id], { env });
    assert.equal(deleted.exitCode, 0, describeResult(deleted));
    assertNothingLeft();
  });
});
