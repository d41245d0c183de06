/**
 * Ending a guest that a killed or failed proxrun may have left mid-work. First every task Proxmox
 * still runs for it is stopped and waited for: a task whose UPID the killed proxrun never got to
 * record (killed between Proxmox starting it and the answer arriving) is found this way. Then a
 * guest that its create left with `lock: create` (a create task that hung, was stopped, or whose
 * worker died), which Proxmox's destroy refuses ("CT is locked (create)", "VM is locked
 * (create)"), has the lock lifted or skipped, so the destroy never races a create still at work.
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
 * Runs `attempt` (after stopping the guest's running tasks when `settleFirst`: an earlier proxrun
 * working on it was cut short); when Proxmox refuses it for a `create` lock, stops the guest's
 * tasks and runs `despiteLock` (which lifts the lock and retries, or passes `skiplock`).
 */
export async function despiteCreateLock(client: ProxmoxClient, node: string, vmid: number, settleFirst: boolean, attempt: () => Promise<void>, despiteLock: () => Promise<void>): Promise<void> {
  if (settleFirst) await stopGuestTasks(client, node, vmid);
  try {
    await attempt();
  } catch (err) {
    if (!isCreateLocked(err)) throw err;
    await stopGuestTasks(client, node, vmid);
    await despiteLock();
  }
}
