/**
 * The part of the Proxmox client this backend uses, the node-local path lookup
 * of a volume for the CLI transport (`pvesm path`, which the client interface
 * does not have). The named-step wrapper lives in src/proxmox/step.ts.
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
