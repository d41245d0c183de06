/**
 * The proxmox-vm fault matrix (see fault-matrix.ts), registered in four test files so that each
 * stays within the test runner's ten minutes per file while VMs boot under TCG on a busy machine:
 * create with error and hang, create with drop and SIGKILL, delete with error and hang, delete
 * with drop and SIGKILL.
 * Each file has one simulator (real QEMU under TCG) for all its cells, a bind-mounted folder so
 * that a directory mapping and virtiofsd are part of every create and delete, and first a clean
 * create, start and delete that finds the steps. After each cell `delete --force` must leave no
 * VMID, disk volume, directory mapping, VM folder, QEMU, virtiofsd or monitor, state record, node
 * tool or running task. Hangs end after a 3 s proxmox.timeoutSeconds; after the guest booted (the
 * VM status read) the timeout must cover a boot, since create waits for the guest's gate within it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { discoverSteps, matrixIds, runMode, type DiscoveredSteps, type MatrixMode, type MatrixPhase, type MatrixTarget } from './fault-matrix.js';
import { startPveSimEnv, type PveSimEnv } from './pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from './proxrun.js';
import { vmDirFor } from '../../src/backends/proxmox-vm/monitor/vm-dir.js';
import { VM_RUN_BASE } from '../../src/backends/proxmox-vm/settings.js';

/** Command lines of live processes (zombies excluded). */
function processes(): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      out.push(fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' '));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function vmFaultMatrix(title: string, vmidRange: readonly [number, number], cells: ReadonlyArray<readonly [MatrixPhase, MatrixMode]>): void {
  describe(title, { timeout: 3_600_000 }, () => {
    let sim: PveSimEnv;
    let work: string;
    let target: MatrixTarget;
    let steps: DiscoveredSteps | undefined;
    const vmConfs = (): string[] => {
      const dir = path.join(sim.pveDir, 'nodes', sim.node, 'qemu-server');
      return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => /^\d+\.conf$/.test(n)) : [];
    };

    before(async () => {
      requireBuilt();
      sim = await startPveSimEnv({ vmidRange, timeoutSeconds: 120 });
      work = tempDir('proxrun-vm-matrix-');
      const root = path.join(work, 'state');
      const share = path.join(work, 'share');
      fs.mkdirSync(share);
      const bundle = await makeBundle(path.join(work, 'bundle'), {
        backend: 'proxmox-vm',
        args: ['sh', '-c', 'while :; do sleep 1; done'],
        edit: (config) => {
          (config['mounts'] as unknown[]).push({ destination: '/var/tmp', type: 'bind', source: share, options: ['rbind', 'rw'] });
        },
      });
      const mappingFile = path.join(sim.pveDir, 'mapping', 'directory.cfg');
      target = {
        sim,
        root,
        work,
        bundle,
        transport: 'cli',
        bootTask: 'qmstart',
        configs: {
          normal: sim.configFile,
          fast: sim.writeConfig('fast.json', { timeoutSeconds: 3 }),
          boot: sim.writeConfig('boot.json', { timeoutSeconds: 60 }),
        },
        nothingLeft: () => {
          assert.deepEqual(vmConfs(), [], 'VM (VMID) left in Proxmox');
          assert.deepEqual(sim.volumes(), [], 'disk volume left');
          assert.equal(fs.existsSync(mappingFile) ? fs.readFileSync(mappingFile, 'utf8').trim() : '', '', 'directory mapping left');
          const dirs = matrixIds().map((id) => vmDirFor(VM_RUN_BASE, path.join(root, id)));
          assert.deepEqual(dirs.filter((d) => fs.existsSync(d)), [], 'VM folder left');
          const stray = processes().filter((cmd) => ((cmd.includes('qemu-system') || cmd.includes('virtiofsd')) && cmd.includes(sim.root)) || dirs.some((d) => cmd.includes(d)));
          assert.deepEqual(stray, [], 'QEMU, virtiofsd or monitor left');
          assert.deepEqual(leftovers(root), [], 'state record left');
        },
      };
    });

    after(async () => {
      if (sim === undefined) return;
      for (const id of leftovers(target.root)) await proxrun(target.root, ['delete', '--force', id], { env: { ...process.env, PROXRUN_CONFIG: sim.configFile } });
      const vms = vmConfs();
      for (const conf of vms) {
        sim.tool('qm', ['stop', String(Number.parseInt(conf, 10)), '--skiplock', '1']);
        sim.tool('qm', ['destroy', String(Number.parseInt(conf, 10)), '--purge', '1', '--skiplock', '1']);
      }
      for (const id of matrixIds()) fs.rmSync(vmDirFor(VM_RUN_BASE, path.join(target.root, id)), { recursive: true, force: true });
      await sim.stop();
      fs.rmSync(work, { recursive: true, force: true });
      assert.deepEqual(vms, [], 'VMs were left in the simulator');
    });

    test('a clean create, start and delete: the steps of the matrix (start makes no Proxmox call)', async () => {
      steps = await discoverSteps(target);
      assert.deepEqual(steps.start, [], 'start asks Proxmox nothing');
      for (const expected of ['cli qm create', 'task qmcreate', 'cli qm start', 'task qmstart', 'cli pvesh create /cluster/mapping/dir']) {
        assert.ok(steps.create.some((s) => s.match === expected), `create has ${expected}`);
      }
      assert.ok(steps.create.some((s) => s.afterBoot), 'create reads the VM status after the guest booted');
      for (const expected of ['cli qm stop', 'cli qm destroy', 'task qmdestroy', 'cli pvesh delete /cluster/mapping/dir/*']) {
        assert.ok(steps.delete.some((s) => s.match === expected), `delete has ${expected}`);
      }
    });

    for (const [phase, mode] of cells) {
      test(`${phase}: ${mode} at each step`, async (t) => {
        assert.ok(steps, 'the clean run found the steps');
        await runMode(t, target, steps[phase], mode);
      });
    }
  });
}
