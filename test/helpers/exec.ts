/**
 * Running real commands from tests: stdout, stderr and the exit status kept apart,
 * a time limit on every command, and polling for a condition with a deadline.
 */
import { spawn } from 'node:child_process';

/** What a finished command left behind. `exitCode` is null when a signal ended it. */
export interface CommandResult {
  readonly argv: readonly string[];
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
}

export interface CommandOptions {
  /** Written to the command's stdin, which is then closed. Without it stdin is /dev/null. */
  readonly input?: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** SIGKILL after this long; the result then has `timedOut: true`. Default 60 s. */
  readonly timeoutMs?: number;
}

/** A command started in the background. */
export interface RunningCommand {
  readonly pid: number;
  /** Settles when the command has exited and its stdout and stderr are closed. */
  readonly finished: Promise<CommandResult>;
  /** Output received so far. */
  stdoutSoFar(): string;
  stderrSoFar(): string;
  kill(signal?: NodeJS.Signals): void;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** Starts `argv` in the background; never rejects: spawn errors become exit code 127. */
export function startCommand(argv: readonly string[], options: CommandOptions = {}): RunningCommand {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('startCommand: empty argv');
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  if (options.input !== undefined && child.stdin) child.stdin.end(options.input);

  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);

  const finished = new Promise<CommandResult>((resolve) => {
    let spawnError: Error | undefined;
    child.on('error', (error) => { spawnError = error; });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        argv: [...argv],
        stdout,
        stderr: spawnError ? `${stderr}${spawnError.message}\n` : stderr,
        exitCode: spawnError && code === null && signal === null ? 127 : code,
        signal,
        timedOut,
      });
    });
  });

  return {
    pid: child.pid ?? -1,
    finished,
    stdoutSoFar: () => stdout,
    stderrSoFar: () => stderr,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => { child.kill(signal); },
  };
}

/** Runs `argv` to the end. Never rejects on a non-zero exit: the caller asserts on the result. */
export function runCommand(argv: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return startCommand(argv, options).finished;
}

/** Runs `argv` and throws, showing its output, unless it exits 0. */
export async function runChecked(argv: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  const result = await runCommand(argv, options);
  if (result.exitCode !== 0) throw new Error(`command failed:\n${describeResult(result)}`);
  return result;
}

/** A readable account of a result for assertion messages. */
export function describeResult(result: CommandResult): string {
  const status = result.timedOut
    ? 'timed out'
    : result.signal !== null ? `killed by ${result.signal}` : `exit code ${String(result.exitCode)}`;
  return [
    `$ ${result.argv.join(' ')}`,
    `  ${status}`,
    `  stdout: ${JSON.stringify(result.stdout)}`,
    `  stderr: ${JSON.stringify(result.stderr)}`,
  ].join('\n');
}

export interface PollOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Named in the error when the deadline passes. */
  readonly description: string;
}

/**
 * Calls `probe` until it returns something other than undefined, and returns that.
 * Throws naming `description` and the last value seen when the deadline passes.
 */
export async function pollFor<T>(probe: () => Promise<T | undefined> | T | undefined, options: PollOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 50;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.description}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
