/**
 * A guest that proxrun's own create left behind with `lock: create` (a create task that hung, was
 * stopped, or whose worker died) is refused by Proxmox's destroy ("CT is locked (create)", "VM is
 * locked (create)"). Before the lock is lifted or skipped, every task still running for that guest
 * is stopped and waited for, so the destroy never races a create that is still at work.
 */
import type { ProxmoxClient } from './client.js';

/** Whether Proxmox refused because the guest's config holds a `create` lock. */
export function isCreateLocked(err: unknown): boolean {
  return /\bis locked \(create\)/.test((err as Error).message ?? '');
}

/** Stops every task Proxmox still runs for guest `vmid` on `node`, and waits until each has stopped. */
export async function stopGuestTasks(client: ProxmoxClient, node: string, vmid: number): Promise<void> {
  for (const upid of await client.activeTasks(node, vmid)) await client.settle({ kind: 'task', node, upid, step: `task ${upid}` });
}

/**
 * Runs `attempt`; when Proxmox refuses it for a `create` lock, stops the guest's running tasks and
 * runs `despiteLock` (which lifts the lock and retries, or passes `skiplock`).
 */
export async function despiteCreateLock(client: ProxmoxClient, node: string, vmid: number, attempt: () => Promise<void>, despiteLock: () => Promise<void>): Promise<void> {
  try {
    await attempt();
  } catch (err) {
    if (!isCreateLocked(err)) throw err;
    await stopGuestTasks(client, node, vmid);
    await despiteLock();
  }
}
