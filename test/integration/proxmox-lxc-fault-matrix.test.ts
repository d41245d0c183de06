/**
 * The fault matrix for proxmox-lxc over the API transport (one simulator, real LXC): every Proxmox
 * step a clean create, start and delete make (requests, tasks and their status polls, found in
 * the simulator's request log) fails, hangs and breaks off in turn, and in a fourth run proxrun is
 * SIGKILLed while it hangs there; after each, `delete --force` must leave no VMID, template,
 * volume, LXC container, monitor, state record, node tool or running task. `start` makes no
 * Proxmox call (the CT was started by create and waits at its gate), which the clean run checks.
 * Hangs end after a 3 s proxmox.timeoutSeconds. The CLI transport's own case (SIGKILL while
 * `pct create` hangs) is in proxmox-lxc-faults.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { discoverSteps, MATRIX_MODES, runMode, type DiscoveredSteps, type MatrixTarget } from '../helpers/fault-matrix.js';
import { monitorDirsOf, startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, proxrun, requireBuilt, tempDir } from '../helpers/proxrun.js';

const VMID_RANGE: readonly [number, number] = [662000, 662999];

describe('proxmox-lxc: error, hang, drop and SIGKILL at every Proxmox step of create, start and delete', { timeout: 3_600_000 }, () => {
  let sim: PveSimEnv;
  let work: string;
  let target: MatrixTarget;
  let steps: DiscoveredSteps | undefined;

  before(async () => {
    requireBuilt();
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE, transport: 'api', timeoutSeconds: 120 });
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
      for (let vmid = VMID_RANGE[0]; vmid < VMID_RANGE[0] + 200; vmid += 1) out.push(...monitorDirsOf(vmid));
      return out;
    };
    target = {
      sim,
      root,
      work,
      bundle,
      transport: 'api',
      configs: { normal: sim.configFile, fast: sim.writeConfig('fast.json', { timeoutSeconds: 3 }), boot: sim.writeConfig('fast.json', { timeoutSeconds: 3 }) },
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
    for (const expected of ['POST /nodes/*/lxc', 'task vzcreate', 'POST /nodes/*/lxc/*/status/start', 'task vzstart']) assert.ok(steps.create.some((s) => s.match === expected), `create has ${expected}`);
    assert.ok(steps.delete.some((s) => s.match === 'task vzdestroy'), 'delete destroys the CT');
  });

  for (const phase of ['create', 'delete'] as const) {
    for (const mode of MATRIX_MODES) {
      test(`${phase}: ${mode} at each step`, async (t) => {
        assert.ok(steps, 'the clean run found the steps');
        await runMode(t, target, steps[phase], mode);
      });
    }
  }
});
