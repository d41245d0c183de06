/**
 * Running one bundle to its end under runc and under proxrun's proxmox-lxc backend (on the
 * simulator), with stdout, stderr and the exit status of its process. runc: `runc run` in a
 * state root of its own (the status is runc's). proxmox-lxc: `proxrun create` (its monitor keeps
 * the files it was given as stdout and stderr), `start`, then the status the monitor records when
 * the process ends, and `delete`; a create that fails is reported with proxrun's stderr. For exec,
 * a container of each is started and a process file is run in it (`runc exec` / `proxrun exec`).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describeResult, pollFor, runCommand } from '../exec.js';
import { PROXRUN_BIN, proxrun, tempDir } from '../proxrun.js';
import { proxrunToFiles } from '../pve-sim-env.js';

/** A create makes a CT and copies the rootfs: generous, the test machine is shared. */
const CREATE_TIMEOUT_MS = 300_000;

export interface BundleRun {
  /** Where it ran (`runc` or `proxmox-lxc`). */
  readonly runtime: string;
  /** The process's exit status; undefined when the container could not be created or started. */
  readonly status: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `argv` with stdout and stderr on files (as an engine gives its runtime pipes or FIFOs, which
 * the process can open again; Node's own stdio would be sockets, which it cannot).
 */
function runToFiles(argv: readonly string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<{ exitCode: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  const dir = tempDir('proxrun-diff-io-');
  const outFile = path.join(dir, 'stdout');
  const errFile = path.join(dir, 'stderr');
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  const [file = 'runc', ...args] = argv;
  const child = spawn(file, args, { stdio: ['ignore', out, err], env });
  fs.closeSync(out);
  fs.closeSync(err);
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const result = { exitCode: code, stdout: fs.readFileSync(outFile, 'utf8'), stderr: fs.readFileSync(errFile, 'utf8'), timedOut };
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(result);
    });
  });
}

/** `runc run` of a bundle; runc's exit status is the process's (or 1 when runc itself fails). */
export async function runWithRunc(bundle: string, id: string): Promise<BundleRun> {
  const root = tempDir('proxrun-diff-runc-');
  try {
    const r = await runToFiles(['runc', '--root', root, 'run', '--bundle', bundle, id], 60_000);
    if (r.timedOut) throw new Error(`runc run timed out: ${r.stderr}`);
    // runc reports its own failures on stderr with level=error; the process's status otherwise.
    const failed = r.exitCode !== 0 && /level=error/.test(r.stderr) && r.stdout === '';
    return { runtime: 'runc', status: failed ? undefined : r.exitCode ?? undefined, stdout: r.stdout, stderr: r.stderr };
  } finally {
    await runCommand(['runc', '--root', root, 'delete', '--force', id]);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

interface RecordFile {
  backendData?: { monitorDir?: string };
}

/** create, start, wait for the status the monitor records, delete. `env` carries PROXRUN_CONFIG. */
export async function runWithProxmoxLxc(bundle: string, id: string, env: NodeJS.ProcessEnv): Promise<BundleRun> {
  const root = tempDir('proxrun-diff-root-');
  const out = tempDir('proxrun-diff-out-');
  try {
    const created = await proxrunToFiles(root, ['create', '--bundle', bundle, id], out, env, CREATE_TIMEOUT_MS);
    const createErr = fs.readFileSync(created.stderrFile, 'utf8');
    if (created.exitCode !== 0) return { runtime: 'proxmox-lxc', status: undefined, stdout: '', stderr: createErr };
    const record = JSON.parse(fs.readFileSync(path.join(root, id, 'state.json'), 'utf8')) as RecordFile;
    const monitorDir = record.backendData?.monitorDir;
    if (monitorDir === undefined) throw new Error(`no monitor folder in the record of ${id}`);
    const started = await proxrun(root, ['start', id], { env });
    if (started.exitCode !== 0) return { runtime: 'proxmox-lxc', status: undefined, stdout: '', stderr: started.stderr };
    const statusText = await pollFor(() => {
      try {
        return fs.readFileSync(path.join(monitorDir, 'exit-status'), 'utf8');
      } catch {
        return undefined;
      }
    }, { timeoutMs: 60_000, description: `${id} to end` });
    return {
      runtime: 'proxmox-lxc',
      status: Number(statusText.trim()),
      stdout: fs.readFileSync(created.stdoutFile, 'utf8'),
      stderr: fs.readFileSync(created.stderrFile, 'utf8'),
    };
  } finally {
    const deleted = await proxrun(root, ['delete', '--force', id], { env });
    fs.rmSync(out, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
    if (deleted.exitCode !== 0) throw new Error(`proxrun delete --force ${id} failed:\n${describeResult(deleted)}`);
  }
}

/** A running container of each runtime, for exec. */
export interface ExecTarget {
  exec(processFile: string): Promise<BundleRun>;
  stop(): Promise<void>;
}

/** `runc run --detach` of the bundle (its process should wait, e.g. sleep); exec with `runc exec --process`. */
export async function startRuncContainer(bundle: string, id: string): Promise<ExecTarget> {
  const root = tempDir('proxrun-diff-runc-');
  const started = spawnSync('runc', ['--root', root, 'run', '--detach', '--bundle', bundle, id], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 60_000 });
  if (started.status !== 0) {
    fs.rmSync(root, { recursive: true, force: true });
    throw new Error(`runc run --detach failed: ${started.stderr}`);
  }
  return {
    exec: async (processFile) => {
      const r = await runToFiles(['runc', '--root', root, 'exec', '--process', processFile, id], 60_000);
      return { runtime: 'runc', status: r.exitCode ?? undefined, stdout: r.stdout, stderr: r.stderr };
    },
    stop: async () => {
      await runCommand(['runc', '--root', root, 'delete', '--force', id]);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** `proxrun create` + `start` of the bundle; exec with `proxrun exec --process`. */
export async function startProxmoxLxcContainer(bundle: string, id: string, env: NodeJS.ProcessEnv): Promise<ExecTarget> {
  const root = tempDir('proxrun-diff-root-');
  const out = tempDir('proxrun-diff-out-');
  const stop = async (): Promise<void> => {
    const deleted = await proxrun(root, ['delete', '--force', id], { env });
    fs.rmSync(out, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
    if (deleted.exitCode !== 0) throw new Error(`proxrun delete --force ${id} failed:\n${describeResult(deleted)}`);
  };
  const created = await proxrunToFiles(root, ['create', '--bundle', bundle, id], out, env, CREATE_TIMEOUT_MS);
  const started = created.exitCode === 0 ? await proxrun(root, ['start', id], { env }) : undefined;
  if (started?.exitCode !== 0) {
    const why = started === undefined ? fs.readFileSync(created.stderrFile, 'utf8') : describeResult(started);
    await stop();
    throw new Error(`proxmox-lxc container ${id} did not start: ${why}`);
  }
  return {
    exec: async (processFile) => {
      const r = await runToFiles([PROXRUN_BIN, '--root', root, 'exec', '--process', processFile, id], 60_000, env);
      return { runtime: 'proxmox-lxc', status: r.exitCode ?? undefined, stdout: r.stdout, stderr: r.stderr };
    },
    stop,
  };
}
