/**
 * Running one of the node's Proxmox tools (`pct`, `pvesh`, `pvesm`) from `cliPath`: no shell, args
 * as an array, a time limit, and failures turned into a one-line ProxmoxError. The task verbs print
 * the task log and exit 255 when the task failed; the failure text is on stderr.
 */
import path from 'node:path';
import { processStartTime } from '../lib/proc.js';
import { ProxmoxError, type InflightCall, type InflightTracker } from './client.js';

export interface ToolSettings {
  cliPath: string;
  timeoutSeconds: number;
  /** Told of each tool process before it is waited for (a process may outlive a killed proxrun). */
  tracker?: InflightTracker | undefined;
}

/** One line from a tool's failure output: drops the generic 400 header and `TASK ERROR:` prefixes. */
export function cliErrorDetail(stderr: string, stdout: string): string {
  let lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) {
    const last = stdout.split('\n').map((l) => l.trim()).filter(Boolean).pop();
    lines = last === undefined ? [] : [last];
  }
  if (lines.length > 1 && /^\d{3} Parameter verification failed\.$/.test(lines[0] ?? '')) lines = lines.slice(1);
  return lines.map((l) => l.replace(/^TASK ERROR: /, '')).join('; ');
}

/** Runs `<cliPath>/<tool> args…`; resolves with stdout, throws ProxmoxError(step, …) on failure. */
export async function runTool(settings: ToolSettings, step: string, tool: string, args: readonly string[]): Promise<string> {
  const { execa } = await import('execa');
  const file = path.join(settings.cliPath, tool);
  const child = execa(file, args, {
    reject: false,
    stdin: 'ignore',
    timeout: settings.timeoutSeconds * 1000,
    forceKillAfterDelay: 2000,
    encoding: 'utf8',
    stripFinalNewline: false,
  });
  const startTime = child.pid === undefined ? undefined : processStartTime(child.pid);
  const call: InflightCall | undefined = child.pid === undefined || startTime === undefined ? undefined : { kind: 'process', pid: child.pid, startTime, step };
  if (call !== undefined) settings.tracker?.started(call);
  const result = await child;
  // execa resolves once the process has exited (a timed-out one is killed first).
  if (call !== undefined) settings.tracker?.ended(call);
  if (result.timedOut) throw new ProxmoxError(step, `timed out after ${settings.timeoutSeconds} s`);
  if (result.failed && result.exitCode === undefined) {
    const code = (result.cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT') throw new ProxmoxError(step, `${file} not found (check proxmox.cliPath)`);
    throw new ProxmoxError(step, `${tool} ${result.signal ? `was killed by ${result.signal}` : `failed to run: ${code ?? 'error'}`}`);
  }
  if (result.exitCode !== 0) {
    const detail = cliErrorDetail(String(result.stderr), String(result.stdout)) || `${tool} exited with ${result.exitCode}`;
    throw new ProxmoxError(step, detail, result.exitCode);
  }
  return String(result.stdout);
}

/** `--key value` pairs (booleans as 1/0) in a stable order. */
export function cliOptions(params: Record<string, string | number | boolean>): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    out.push(`--${key}`, typeof value === 'boolean' ? (value ? '1' : '0') : String(value));
  }
  return out;
}
