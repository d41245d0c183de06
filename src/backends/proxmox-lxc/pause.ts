/**
 * pause/resume: freeze and thaw the CT's cgroup with LXC on this node (`lxc-freeze` /
 * `lxc-unfreeze`), the freezer runc uses, never `pct suspend` (that is CRIU checkpointing).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function lxcTool(tool: 'lxc-freeze' | 'lxc-unfreeze', lxcPath: string, vmid: number): Promise<void> {
  try {
    await run(tool, ['-n', String(vmid), '-P', lxcPath], { encoding: 'utf8', timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    const said = `${e.stderr ?? ''}`.trim().split('\n').filter((l) => l.trim() !== '').at(-1);
    throw new Error(`${tool} CT ${vmid}: ${said ?? e.message ?? String(err)}`);
  }
}

export function freezeCt(lxcPath: string, vmid: number): Promise<void> {
  return lxcTool('lxc-freeze', lxcPath, vmid);
}

export function thawCt(lxcPath: string, vmid: number): Promise<void> {
  return lxcTool('lxc-unfreeze', lxcPath, vmid);
}
