/**
 * proxrun in another network namespace than the one Proxmox starts CTs in (what a containerd in
 * its own netns gives): LXC's command socket is abstract, one per network namespace, so the CT
 * runs per Proxmox but LXC's tools do not see it from proxrun's side. create must say exactly
 * that in one line (not "the container monitor ended before it was ready (exit status 255)"),
 * and leave no CT, record or monitor behind. The simulator starts CTs in the host's namespace,
 * as Proxmox does.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { processesMentioning } from '../helpers/cleanup.js';
import { runChecked, runCommand } from '../helpers/exec.js';
import { startPveSimEnv, type PveSimEnv } from '../helpers/pve-sim-env.js';
import { leftovers, makeBundle, PROXRUN_BIN, requireBuilt, tempDir } from '../helpers/proxrun.js';
import { requireCommands, requireRoot } from '../helpers/host-setup.js';

const VMID_RANGE: readonly [number, number] = [700000, 700999];

/** Runs proxrun inside network namespace `netns`, stdout and stderr on files (the monitor inherits them). */
function proxrunInNetns(netns: string, args: readonly string[], dir: string, env: NodeJS.ProcessEnv): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  const stdoutFile = path.join(dir, 'stdout');
  const stderrFile = path.join(dir, 'stderr');
  const out = fs.openSync(stdoutFile, 'w');
  const err = fs.openSync(stderrFile, 'w');
  try {
    const child = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', PROXRUN_BIN, ...args], { stdio: ['ignore', out, err], env });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`proxrun ${args.join(' ')} did not exit within 120 s`));
      }, 120_000);
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ exitCode: code, stdout: fs.readFileSync(stdoutFile, 'utf8'), stderr: fs.readFileSync(stderrFile, 'utf8') });
      });
    });
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
  }
}

describe('proxmox-lxc create from another network namespace than the CT\'s', { timeout: 300_000 }, () => {
  let sim: PveSimEnv;
  let env: NodeJS.ProcessEnv;
  let work: string;
  const netns = `proxrun-reach-${process.pid}`;
  let netnsMade = false;

  before(async () => {
    requireBuilt();
    requireRoot('network namespaces');
    await requireCommands(['ip', 'nsenter', 'lxc-info']);
    work = tempDir('proxrun-netns-reach-');
    sim = await startPveSimEnv({ vmidRange: VMID_RANGE });
    env = { ...process.env, PROXRUN_CONFIG: sim.configFile };
    netnsMade = true;
    await runChecked(['ip', 'netns', 'add', netns]);
  });

  after(async () => {
    if (netnsMade) await runCommand(['ip', 'netns', 'delete', netns]);
    const destroyed = sim === undefined ? [] : (await sim.stop()).destroyed;
    if (work !== undefined) fs.rmSync(work, { recursive: true, force: true });
    assert.deepEqual(destroyed, [], 'CTs were left in the simulator');
  });

  test('create names the cause, one line in stderr and in the log, and leaves nothing', async (t) => {
    const root = path.join(work, 'root');
    const log = path.join(work, 'log.json');
    const bundle = await makeBundle(path.join(work, 'bundle'), {
      backend: 'proxmox-lxc',
      args: ['sh', '-c', 'echo never'],
      edit: (config) => { (config['root'] as Record<string, unknown>)['readonly'] = false; },
    });
    const result = await proxrunInNetns(netns, ['--root', root, '--log', log, '--log-format', 'json', 'create', '--bundle', bundle, 'elsewhere'], work, env);
    assert.equal(result.exitCode, 1, result.stderr);
    assert.equal(result.stdout, '');
    const cause = /CT \d+ is running, but LXC's tools cannot reach it from proxrun's network namespace net:\[\d+\]: its lxc-start \(pid \d+\) runs in net:\[\d+\], and LXC's command socket is an abstract unix socket, one per network namespace; run proxrun, and the engine that calls it, in the network namespace Proxmox starts CTs in \(docs\/kubernetes\.md\)$/;
    // The monitor's own note ("container N is not running") goes to the container's stderr, which
    // here is proxrun's; proxrun's error is the last line, and the only one in the log.
    const lines = result.stderr.trimEnd().split('\n');
    assert.match(lines.at(-1) ?? '', cause);
    t.diagnostic(lines.at(-1) ?? '');
    assert.ok(!result.stderr.includes('ended before it was ready'), result.stderr);
    const logged = fs.readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { level: string; msg: string });
    assert.equal(logged.length, 1, JSON.stringify(logged));
    assert.equal(logged[0]?.level, 'error');
    assert.match(logged[0]?.msg ?? '', cause);

    assert.deepEqual(leftovers(root), [], 'no record left');
    assert.deepEqual(sim.ctVmids().filter((vmid) => vmid >= VMID_RANGE[0] && vmid <= VMID_RANGE[1]), [], 'no CT left');
    assert.deepEqual(sim.lxcContainers(), [], 'no LXC container left');
    assert.deepEqual((await processesMentioning(bundle)).map((proc) => proc.argv.join(' ')), [], 'no process left');
  });
});
