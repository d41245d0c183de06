/**
 * Runs one named step of create or delete. A failure comes out on one line naming the step: a
 * ProxmoxError keeps its own step (such as `create VM 670001` or `nextid`), anything else gets `name`.
 */
import { ProxmoxError } from '../../proxmox/index.js';

export function oneLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ');
}

export async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProxmoxError) throw new ProxmoxError(err.step, oneLine(err.detail), err.status);
    throw new Error(`${name}: ${oneLine((err as Error).message ?? String(err))}`);
  }
}

/** Whether a Proxmox error says the VM is gone. */
export function isMissingVm(err: unknown): boolean {
  return /does not exist|no such|not exist/i.test((err as Error).message ?? '');
}
