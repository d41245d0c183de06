/**
 * The part of the Proxmox client this backend uses, the node-local path lookup
 * of a volume for the CLI transport (`pvesm path`, which the client interface
 * does not have), and the named-step wrapper every Proxmox call goes through.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ProxmoxError, type ProxmoxClient } from '../../proxmox/client.js';

const run = promisify(execFile);

/** The client this backend talks to (either transport). */
export type PveOps = ProxmoxClient;

/** Host path of a volume on this node (`pvesm path VOLID`). */
export async function volumePath(cliPath: string, volid: string): Promise<string> {
  try {
    const { stdout } = await run(path.join(cliPath, 'pvesm'), ['path', volid], { encoding: 'utf8' });
    const found = stdout.trim();
    if (found === '' || !path.isAbsolute(found)) throw new ProxmoxError('pvesm path', `no path for ${volid}: ${JSON.stringify(stdout)}`);
    return found;
  } catch (err) {
    if (err instanceof ProxmoxError) throw err;
    throw new ProxmoxError('pvesm path', lastLine(err));
  }
}

/** The last non-empty line a failed command printed, else its message. */
export function lastLine(err: unknown): string {
  const e = err as { stderr?: string; stdout?: string; message?: string };
  const text = `${e.stderr ?? ''}`.trim() || `${e.stdout ?? ''}`.trim();
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.at(-1) ?? e.message ?? String(err);
}

/** Whether a Proxmox error says the guest is gone. */
export function isMissingGuest(err: unknown): boolean {
  return /does not exist|no such|not exist/i.test((err as Error).message ?? '');
}

/** Text on one line: empty lines dropped, the rest joined with spaces. */
export function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
}

/**
 * Runs one named step of a Proxmox operation. A failure comes out on one line naming the step:
 * a ProxmoxError keeps its own (such as `nextid` or `create CT 100001`), anything else gets `name`.
 */
export async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProxmoxError) throw new ProxmoxError(err.step, oneLine(err.detail), err.status);
    throw new Error(`${name}: ${oneLine((err as Error).message ?? String(err))}`);
  }
}
