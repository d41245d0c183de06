/**
 * Named steps of Proxmox work. A failure comes out on one line naming the step:
 * a ProxmoxError keeps its own (such as `nextid` or `create CT 100001`), anything
 * else gets the step name given here.
 */
import { ProxmoxError } from './client.js';

/** Text on one line: empty lines dropped, the rest joined with spaces. */
export function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
}

export async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProxmoxError) throw new ProxmoxError(err.step, oneLine(err.detail), err.status);
    throw new Error(`${name}: ${oneLine((err as Error).message ?? String(err))}`);
  }
}

/** Whether Proxmox answered a request with a refusal (HTTP 4xx): it did nothing with it. */
export function isRefusedRequest(err: unknown): boolean {
  return err instanceof ProxmoxError && err.status !== undefined && err.status >= 400 && err.status < 500;
}

/** Whether a Proxmox error says the guest (CT or VM) is gone. */
export function isMissingGuest(err: unknown): boolean {
  return /does not exist|no such|not exist/i.test((err as Error).message ?? '');
}
