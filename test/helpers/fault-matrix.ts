/**
 * The fault matrix of the Proxmox backends (issue 10): every Proxmox step that a clean create,
 * start and delete make is found in the simulator's request log, then each is made to fail
 * (`error`), to never answer (`hang`) and to break off (`drop`) in turn, and in a fourth run
 * proxrun is SIGKILLed while that step hangs. After each, `delete --force` (what containerd and
 * podman send after a failed create) must leave nothing: the caller's `nothingLeft` check.
 *
 * A step is a fault rule of `scripts/pve-sim fault`: an API request (`POST /nodes/*\/lxc`, its
 * variable path segments as `*`), a task by type (`task vzcreate`) and the polls of its status
 * (`GET /nodes/*\/tasks/*%3Avzcreate%3A*\/status`), or a node tool's command (`cli qm create`,
 * `cli pvesh get /cluster/nextid`; the API calls a tool makes inside the simulator are its own
 * business, not steps of proxrun). No sleeps: a run is killed once the simulator has used up the
 * fault rule, which it does the moment the step is reached, and, for a task over the API, once
 * proxrun has recorded its UPID (it records a task the moment Proxmox's answer names it; a task
 * not bound to a guest, such as a template upload's, whose answer a killed proxrun never read is
 * beyond what it can find: docs/architecture.md, "The create protocol").
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pollFor } from './exec.js';
import { proxrunToFiles, simToolProcesses, spawnProxrun, type PveSimEnv } from './pve-sim-env.js';

export type MatrixPhase = 'create' | 'delete';
export type MatrixMode = 'error' | 'hang' | 'drop' | 'SIGKILL';
export const MATRIX_MODES: readonly MatrixMode[] = ['error', 'hang', 'drop', 'SIGKILL'];

export interface MatrixStep {
  readonly phase: MatrixPhase;
  /** The fault rule's match. */
  readonly match: string;
  /** A create step that comes after the guest booted (a hang there needs the timeout a boot needs). */
  readonly afterBoot: boolean;
}

interface LoggedRequest {
  source: 'api' | 'cli';
  method?: string;
  path?: string;
  command?: string[];
}

/** Path segments that name what is asked; every other segment (node, VMID, volume, UPID) becomes `*`. */
const WORDS = new Set([
  'nodes', 'lxc', 'qemu', 'status', 'current', 'start', 'stop', 'shutdown', 'config', 'storage', 'content', 'upload',
  'tasks', 'cluster', 'nextid', 'resources', 'version', 'mapping', 'dir', 'log',
]);

/** The type of a task in a (percent-encoded) UPID segment. */
function taskTypeOf(segment: string): string | undefined {
  const upid = decodeURIComponent(segment);
  return /^UPID:/.test(upid) ? upid.split(':')[5] : undefined;
}

export function pathPattern(apiPath: string): string {
  return apiPath
    .split('/')
    .map((segment) => {
      if (segment === '' || WORDS.has(segment)) return segment;
      const type = taskTypeOf(segment);
      return type === undefined ? '*' : `*%3A${type}%3A*`;
    })
    .join('/');
}

/**
 * The steps of one phase in the order first seen. Over the API: every request, and each task
 * (placed before the first poll of its status). Through the node's tools: every command, and
 * each task the tools' own calls followed.
 */
export function stepsOf(requests: readonly LoggedRequest[], transport: 'cli' | 'api'): string[] {
  const steps: string[] = [];
  const add = (step: string): void => {
    if (!steps.includes(step)) steps.push(step);
  };
  for (const r of requests) {
    const taskSegment = (r.path ?? '').split('/').find((s) => taskTypeOf(s) !== undefined);
    const task = taskSegment === undefined ? undefined : taskTypeOf(taskSegment);
    if (transport === 'api' && r.source === 'api' && r.method !== undefined && r.path !== undefined) {
      if (task !== undefined) add(`task ${task}`);
      add(`${r.method} ${pathPattern(r.path)}`);
    } else if (transport === 'cli' && r.source === 'cli') {
      if (r.command !== undefined) {
        const [tool = '', verb = '', target = ''] = r.command;
        add(tool === 'pvesh' ? `cli ${tool} ${verb} ${pathPattern(target)}` : `cli ${tool} ${verb}`);
      } else if (task !== undefined) add(`task ${task}`);
    }
  }
  return steps;
}

/** The simulator's request log from line `from` on. */
export function requestsSince(simRoot: string, from: number): LoggedRequest[] {
  const lines = fs.readFileSync(path.join(simRoot, 'requests.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
  return lines.slice(from).map((l) => JSON.parse(l) as LoggedRequest);
}

export function requestCount(simRoot: string): number {
  const file = path.join(simRoot, 'requests.jsonl');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').length : 0;
}

/** UPIDs of the tasks the simulator still runs on `node`. */
export function runningTasks(sim: PveSimEnv): string[] {
  const r = sim.tool('pvesh', ['get', `/nodes/${sim.node}/tasks`, '--source', 'active', '--output-format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as Array<{ upid: string }>).map((t) => t.upid);
}

export interface MatrixTarget {
  readonly sim: PveSimEnv;
  /** proxrun's state root. */
  readonly root: string;
  /** A folder for run outputs. */
  readonly work: string;
  readonly bundle: string;
  readonly transport: 'cli' | 'api';
  /** Configs: `normal` for clean runs and SIGKILL runs, `fast` (short timeoutSeconds) for hangs, `boot` for hangs after a guest boot. */
  readonly configs: { readonly normal: string; readonly fast: string; readonly boot: string };
  /** The guest's own task after which it boots (`qmstart`), for VMs. */
  readonly bootTask?: string;
  /** Asserts that nothing of any container is left (Proxmox, host, state). */
  nothingLeft(): void;
}

export interface DiscoveredSteps {
  readonly create: MatrixStep[];
  readonly delete: MatrixStep[];
  /** Requests made during `start`. */
  readonly start: string[];
}

let counter = 0;
const used: string[] = [];
function nextId(kind: string): string {
  counter += 1;
  const id = `mx-${kind}-${counter}`;
  used.push(id);
  return id;
}

/** Every container id the matrix has used so far (for checks of per-container host folders). */
export function matrixIds(): readonly string[] {
  return used;
}

const env = (config: string): NodeJS.ProcessEnv => ({ ...process.env, PROXRUN_CONFIG: config });

async function runTo(target: MatrixTarget, args: readonly string[], config: string, name: string): Promise<{ exitCode: number | null; stderr: string }> {
  const out = path.join(target.work, name);
  fs.mkdirSync(out, { recursive: true });
  const r = await proxrunToFiles(target.root, args, out, env(config), 600_000);
  return { exitCode: r.exitCode, stderr: fs.readFileSync(r.stderrFile, 'utf8') };
}

async function succeed(target: MatrixTarget, args: readonly string[], config: string, name: string): Promise<void> {
  const r = await runTo(target, args, config, name);
  assert.equal(r.exitCode, 0, `proxrun ${args.join(' ')}: ${r.stderr}`);
}

function assertClean(target: MatrixTarget): void {
  target.nothingLeft();
  assert.deepEqual(simToolProcesses(target.sim.root), [], 'no node tool still runs');
  assert.deepEqual(runningTasks(target.sim), [], 'no Proxmox task still runs');
}

/** A clean create, start and delete; the steps each made. */
export async function discoverSteps(target: MatrixTarget): Promise<DiscoveredSteps> {
  const id = nextId('clean');
  const phase = async (args: readonly string[]): Promise<string[]> => {
    const from = requestCount(target.sim.root);
    await succeed(target, args, target.configs.normal, `${id}-${args[0] ?? ''}`);
    return stepsOf(requestsSince(target.sim.root, from), target.transport);
  };
  const create = await phase(['create', '--bundle', target.bundle, id]);
  const start = await phase(['start', id]);
  const del = await phase(['delete', '--force', id]);
  assertClean(target);
  const boot = target.bootTask === undefined ? -1 : create.indexOf(`task ${target.bootTask}`);
  return {
    create: create.map((match, index) => ({ phase: 'create', match, afterBoot: boot >= 0 && index > boot })),
    delete: del.map((match) => ({ phase: 'delete', match, afterBoot: false })),
    start,
  };
}

/** Injects `mode` at `step` once, runs the phase, then checks that delete --force leaves nothing. */
export async function runCell(target: MatrixTarget, step: MatrixStep, mode: MatrixMode): Promise<void> {
  const { sim } = target;
  const id = nextId(step.phase);
  const fault = (faultMode: 'error' | 'hang' | 'drop'): void => {
    sim.fault(['--match', step.match, '--mode', faultMode, '--count', '1', ...(faultMode === 'error' ? ['--message', `injected failure at ${step.match}`] : [])]);
  };
  const phaseArgs = step.phase === 'create' ? ['create', '--bundle', target.bundle, id] : ['delete', '--force', id];
  if (step.phase === 'delete') {
    await succeed(target, ['create', '--bundle', target.bundle, id], target.configs.normal, `${id}-create`);
    await succeed(target, ['start', id], target.configs.normal, `${id}-start`);
  }
  try {
    if (mode === 'SIGKILL') {
      fault('hang');
      const run = spawnProxrun(target.root, phaseArgs, path.join(target.work, `${id}-${step.phase}`), env(target.configs.normal));
      let ended: number | null | undefined;
      void run.exited.then((code) => {
        ended = code;
      });
      try {
        await pollFor(() => {
          if (ended !== undefined) throw new Error(`proxrun ${step.phase} ended (${String(ended)}) before reaching ${step.match}: ${fs.readFileSync(run.stderrFile, 'utf8')}`);
          return sim.faultRules().length === 0 ? true : undefined;
        }, { timeoutMs: 300_000, description: `proxrun ${step.phase} reaching ${step.match}` });
        const task = /^task (\S+)$/.exec(step.match)?.[1];
        if (task !== undefined && target.transport === 'api') {
          await pollFor(() => (inflightTasks(target.root, id).some((upid) => upid.split(':')[5] === task) ? true : undefined), {
            timeoutMs: 60_000,
            description: `proxrun recording the ${task} task it waits for`,
          });
        }
      } finally {
        if (ended === undefined) process.kill(run.pid, 'SIGKILL');
      }
      assert.equal(await run.exited, null, 'proxrun was killed while the step hung');
    } else {
      fault(mode);
      const config = mode !== 'hang' ? target.configs.normal : step.afterBoot ? target.configs.boot : target.configs.fast;
      const r = await runTo(target, phaseArgs, config, `${id}-${step.phase}`);
      assert.deepEqual(sim.faultRules(), [], `the ${step.phase} reached ${step.match}`);
      assert.notEqual(r.exitCode, 0, `proxrun ${step.phase} must fail when ${step.match} fails (${mode})`);
      assert.equal(r.stderr.trim().split('\n').filter((l) => !l.startsWith('proxrun monitor: ')).length, 1, `one error line: ${r.stderr}`);
    }
  } finally {
    sim.clearFaults();
  }
  const deleted = await runTo(target, ['delete', '--force', id], target.configs.normal, `${id}-cleanup`);
  assert.equal(deleted.exitCode, 0, `delete --force after ${mode} at ${step.match}: ${deleted.stderr}`);
  try {
    assertClean(target);
  } finally {
    // A task this cell failed to end must not spoil the cells after it.
    for (const upid of runningTasks(sim)) sim.tool('pvesh', ['delete', `/nodes/${sim.node}/tasks/${upid}`]);
  }
}

/** UPIDs of the tasks a container's record lists as in flight. */
function inflightTasks(root: string, id: string): string[] {
  try {
    const record = JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as { inflight?: Array<{ kind: string; upid?: string }> };
    return (record.inflight ?? []).flatMap((c) => (c.kind === 'task' && c.upid !== undefined ? [c.upid] : []));
  } catch {
    return [];
  }
}

/** One subtest per step of `steps` for `mode`. */
export async function runMode(t: TestContext, target: MatrixTarget, steps: readonly MatrixStep[], mode: MatrixMode): Promise<void> {
  assert.ok(steps.length > 0, 'the clean run found steps to inject faults at');
  for (const step of steps) await t.test(`${mode} at ${step.match}`, () => runCell(target, step, mode));
}

