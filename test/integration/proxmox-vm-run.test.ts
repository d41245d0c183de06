/**
 * `run` without --detach on the proxmox-vm backend (simulator, real QEMU): like `runc run`, proxrun
 * waits for the payload, exits with its status, and the payload's stdout and stderr reach proxrun's
 * own (the VM monitor inherits them); the VM, its disk, its run folder and the record are gone
 * afterwards. stdin is not relayed into a VM (docs/proxmox-vm.md).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { VM_RUN_BASE } from '../../src/backends/proxmox-vm/settings.js';
import { proxrunToFiles, startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from '../helpers/proxrun.js';

const VMID_RANGE: readonly [number, number] = [732000, 732999];
const BOOT_MS = 240_000;

describe('proxrun run → proxmox-vm (simulator, real QEMU)', { timeout: 600_000 }, () => {
  let sim: PveSimEnv;
  let work: string;
  let root: string;
  let env: NodeJS.ProcessEnv;
  let vmDirsBefore: Set<string>;

  const vmDirs = (): string[] => (fs.existsSync(VM_RUN_BASE) ? fs.readdirSync(VM_RUN_BASE) : []);
  const vmVmids = (): number[] => {
    const dir = path.join(sim.pveDir, 'nodes', sim.node, 'qemu-server');
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => /^\d+\.conf$/.test(n)).map((n) => Number.parseInt(n, 10)) : [];
  };
  const qemuProcesses = (): string[] =>
    spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line.includes('qemu-system') && line.includes(sim.root));

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE, timeoutSeconds: 120 });
    work = tempDir('proxrun-vm-run-');
    root = path.join(work, 'state');
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
    vmDirsBefore = new Set(vmDirs());
  });

  after(async () => {
    if (sim === undefined) return;
    for (const id of leftovers(root)) await proxrun(root, ['delete', '--force', id], { env });
    const vms = vmVmids();
    for (const vmid of vms) {
      sim.tool('qm', ['stop', String(vmid)]);
      sim.tool('qm', ['destroy', String(vmid), '--purge', '1']);
    }
    await sim.stop();
    fs.rmSync(work, { recursive: true, force: true });
    assert.deepEqual(vms, [], 'VMs were left in the simulator');
  });

  test('run without --detach exits with the payload\'s status, its output on proxrun\'s stdout and stderr, and leaves nothing', async () => {
    const bundle = await makeBundle(path.join(work, 'bundle'), {
      backend: 'proxmox-vm',
      args: ['sh', '-c', 'echo out; echo err >&2; exit 3'],
      edit: (config) => {
        (config['root'] as Record<string, unknown>)['readonly'] = false;
      },
    });
    const r = await proxrunToFiles(root, ['run', '--bundle', bundle, 'vm-run'], bundle, env, BOOT_MS);
    const stderr = fs.readFileSync(r.stderrFile, 'utf8');
    assert.equal(r.exitCode, 3, stderr);
    assert.equal(fs.readFileSync(r.stdoutFile, 'utf8'), 'out\n');
    assert.equal(stderr, 'err\n');
    assert.deepEqual(leftovers(root), [], 'record left');
    assert.deepEqual(vmVmids(), [], 'VM left in Proxmox');
    assert.deepEqual(sim.volumes(), [], 'disk left on the storage');
    assert.deepEqual(vmDirs().filter((d) => !vmDirsBefore.has(d)), [], `folder left under ${VM_RUN_BASE}`);
    assert.deepEqual(qemuProcesses(), [], 'QEMU left');
  });
});
