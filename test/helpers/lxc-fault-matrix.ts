/**
 * The proxmox-lxc fault matrix (see fault-matrix.ts) over the API transport, registered in test
 * files that each stay well within the test runner's ten minutes per file: create with error and
 * hang, create with drop and SIGKILL, delete with all four. Each file has one simulator (real LXC)
 * for all its cells and first runs a clean create, start and delete that finds the steps. After
 * each cell `delete --force` must leave no VMID, template, volume, LXC container, monitor, state
 * record, node tool or running task. Hangs end after a 3 s proxmox.timeoutSeconds. The CLI
 * transport's own case (SIGKILL while `pct create` hangs) is in proxmox-lxc-faults.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { discoverSteps, runMode, type DiscoveredSteps, type MatrixMode, type MatrixPhase, type MatrixTarget } from './fault-matrix.js';
import { monitorDirsOf, startPveSimEnv, type PveSimEnv } from './pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from './proxrun.js';

export function lxcFaultMatrix(title: string, vmidRange: readonly [number, number], cells: ReadonlyArray<readonly [MatrixPhase, MatrixMode]>): void {
  describe(title, { timeout: 3_600_000 }, () => {
    let sim: PveSimEnv;
    let work: string;
    let target: MatrixTarget;
    let steps: DiscoveredSteps | undefined;

    before(async () => {
      requireBuilt();
      sim = await startPveSimEnv({ vmidRange, transport: 'api', timeoutSeconds: 120 });
      work = tempDir('proxrun-lxc-matrix-');
      const root = path.join(work, 'state');
      const bundle = await makeBundle(path.join(work, 'bundle'), {
        args: ['sh', '-c', 'while :; do sleep 1; done'],
        edit: (config) => {
          (config['root'] as Record<string, unknown>)['readonly'] = false;
        },
      });
      const monitorFolders = (): string[] => {
        const out: string[] = [];
        for (let vmid = vmidRange[0]; vmid < vmidRange[0] + 200; vmid += 1) out.push(...monitorDirsOf(vmid));
        return out;
      };
      const fast = sim.writeConfig('fast.json', { timeoutSeconds: 3 });
      target = {
        sim,
        root,
        work,
        bundle,
        transport: 'api',
        configs: { normal: sim.configFile, fast, boot: fast },
        nothingLeft: () => {
          assert.deepEqual(sim.ctVmids(), [], 'CT (VMID) left in Proxmox');
          assert.deepEqual(sim.templates(), [], 'template left');
          assert.deepEqual(sim.volumes(), [], 'volume left');
          assert.deepEqual(sim.lxcContainers(), [], 'LXC container left');
          assert.deepEqual(monitorFolders(), [], 'monitor folder left');
          assert.deepEqual(leftovers(root), [], 'state record left');
        },
      };
    });

    after(async () => {
      if (sim === undefined) return;
      for (const id of leftovers(target.root)) await proxrun(target.root, ['delete', '--force', id], { env: { ...process.env, PROXRUN_CONFIG: sim.configFile } });
      const { destroyed } = await sim.stop();
      fs.rmSync(work, { recursive: true, force: true });
      assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
    });

    test('a clean create, start and delete: the steps of the matrix (start makes no Proxmox call)', async () => {
      steps = await discoverSteps(target);
      assert.deepEqual(steps.start, [], 'start asks Proxmox nothing');
      for (const expected of ['POST /nodes/*/lxc', 'task vzcreate', 'POST /nodes/*/lxc/*/status/start', 'task vzstart']) {
        assert.ok(steps.create.some((s) => s.match === expected), `create has ${expected}`);
      }
      assert.ok(steps.delete.some((s) => s.match === 'task vzdestroy'), 'delete destroys the CT');
    });

    for (const [phase, mode] of cells) {
      test(`${phase}: ${mode} at each step`, async (t) => {
        assert.ok(steps, 'the clean run found the steps');
        await runMode(t, target, steps[phase], mode);
      });
    }
  });
}
