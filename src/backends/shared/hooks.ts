/**
 * Runs OCI hooks on the host, as runc does: `path` with `args` (args[0] is
 * argv[0]) and exactly `env`, the state JSON on stdin, killed after `timeout`
 * seconds. A failure is one line naming the hook kind and path. Used by the
 * backends that run hooks themselves (runc and crun run their own).
 */
import { spawn } from 'node:child_process';
import type { Hook } from '../../oci/spec.js';

export async function runHooks(kind: string, hooks: readonly Hook[] | undefined, stateJson: string): Promise<void> {
  for (const [index, hook] of (hooks ?? []).entries()) await runHook(`${kind}[${index}] ${hook.path}`, hook, stateJson);
}

function runHook(label: string, hook: Hook, stateJson: string): Promise<void> {
  const args = hook.args ?? [hook.path];
  const env = Object.fromEntries((hook.env ?? []).map((entry) => {
    const eq = entry.indexOf('=');
    return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
  }));
  return runHookProcess(label, hook.timeout, { file: hook.path, args: args.slice(1), argv0: args[0] ?? hook.path, env }, stateJson);
}

export interface HookCommand {
  file: string;
  args: readonly string[];
  argv0?: string;
  /** Exactly this environment; undefined: the caller's own (for launchers that set the hook's env themselves). */
  env?: Record<string, string>;
}

/**
 * Runs one hook process (or a launcher that runs the hook elsewhere, such as inside a container):
 * the state JSON on stdin, killed with its whole process group after `timeout` seconds, a failure
 * rejected as one line naming the hook.
 */
export function runHookProcess(label: string, timeout: number | undefined, command: HookCommand, stateJson: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command.file, [...command.args], {
      ...(command.argv0 !== undefined ? { argv0: command.argv0 } : {}),
      ...(command.env !== undefined ? { env: command.env } : {}),
      stdio: ['pipe', 'ignore', 'pipe'],
      // Its own process group, so a timeout ends whatever the hook started too.
      detached: true,
    });
    let stderr = '';
    let timedOut = false;
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString('utf8');
    });
    const timer = timeout === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      // Do not wait for the pipes: a process the hook left behind may still hold stderr.
      child.stderr?.destroy();
      reject(new Error(`hook ${label}: timed out after ${timeout} s`));
    }, timeout * 1000);
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stateJson);
    child.once('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`hook ${label}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (timedOut) return;
      if (code === 0) resolve();
      else {
        const why = signal === null ? `exit status ${code ?? 'unknown'}` : `signal ${signal}`;
        const said = stderr.trim().split('\n').at(-1);
        reject(new Error(`hook ${label}: ${why}${said ? `: ${said}` : ''}`));
      }
    });
  });
}
