/**
 * VMID allocation inside proxrun's `vmidRange`. Proxmox's `nextid` is racy (two callers get the
 * same answer) and scans from 100, so: a host-local lock serialises proxrun's own allocations,
 * under it we ask `nextid`, probe upward inside the range when the proposal is outside it
 * (`nextid?vmid=N` answers 400 "VM N already exists" for a taken id), and run the create. A create
 * that still fails with "already exists" (another host or tool took the id) is retried with the
 * next candidate.
 */
import path from 'node:path';
import { ProxmoxError, type ProxmoxClient } from './client.js';
import { assertOwnEntry, ensureTrustedDir, PRIVATE_RUN_DIR } from './private-dir.js';

export type VmidRange = readonly [number, number];

export interface VmidAllocationOptions {
  /** The lock shared by every proxrun on this host (default /run/proxrun-private/vmid.lock; its folder must be root's alone). */
  lockFile?: string;
  /** How long to wait for the lock (default 600 s). */
  lockWaitSeconds?: number;
  /** How many candidates to try before giving up (default 20). */
  maxAttempts?: number;
}

export const DEFAULT_VMID_LOCK_FILE = path.join(PRIVATE_RUN_DIR, 'vmid.lock');

/** True for Proxmox's "VM N already exists" (nextid) and "CT N already exists on node …" (create). */
export function isVmidTaken(err: unknown): boolean {
  return err instanceof ProxmoxError && /\b(?:CT|VM) \d+ already exists\b/.test(err.detail);
}

/** Checks a range from the config: integers, 100 ≤ low ≤ high ≤ 999999999. */
export function checkVmidRange(range: readonly number[]): VmidRange {
  const [low, high] = range;
  if (range.length !== 2 || low === undefined || high === undefined || !Number.isInteger(low) || !Number.isInteger(high) || low < 100 || high > 999_999_999 || low > high) {
    throw new Error('proxrun config: proxmox.vmidRange must be [low, high] with 100 <= low <= high <= 999999999');
  }
  return [low, high];
}

async function withHostLock<T>(lockFile: string, waitSeconds: number, fn: () => Promise<T>): Promise<T> {
  const { default: lockfile } = await import('proper-lockfile');
  try {
    // In a folder only root controls, no other user can make the lock first and block every create.
    ensureTrustedDir(path.dirname(lockFile));
    assertOwnEntry(lockFile);
  } catch (err) {
    throw new ProxmoxError('vmid allocation', (err as Error).message);
  }
  const deadline = Date.now() + waitSeconds * 1000;
  let release: () => Promise<void>;
  let pause = 10;
  for (;;) {
    try {
      release = await lockfile.lock(lockFile, { realpath: false, lockfilePath: lockFile, stale: 30_000, update: 10_000, retries: 0 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw new ProxmoxError('vmid allocation', `cannot lock ${lockFile}: ${(err as Error).message}`);
      if (Date.now() >= deadline) throw new ProxmoxError('vmid allocation', `timed out after ${waitSeconds} s waiting for ${lockFile}`);
      await new Promise((resolve) => setTimeout(resolve, pause + Math.floor(Math.random() * pause)));
      pause = Math.min(pause * 2, 200);
    }
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}

/** The next id to try: Proxmox's proposal if it lies in the range, else the lowest free id found by probing. */
export async function proposeVmid(client: ProxmoxClient, range: VmidRange, excluded: ReadonlySet<number>): Promise<number> {
  const [low, high] = range;
  const proposed = await client.nextId();
  if (proposed >= low && proposed <= high && !excluded.has(proposed)) return proposed;
  const used = new Set<number>(excluded);
  for (const guest of await client.clusterGuests()) used.add(guest.vmid);
  for (let candidate = low; candidate <= high; candidate += 1) {
    if (used.has(candidate)) continue;
    try {
      return await client.nextId(candidate);
    } catch (err) {
      if (!isVmidTaken(err)) throw err;
      used.add(candidate);
    }
  }
  throw new ProxmoxError('vmid allocation', `no free VMID in proxmox.vmidRange [${low}, ${high}]`);
}

/**
 * Allocates a VMID in `range` and runs `create(vmid)` under the host lock; a create that fails with
 * "already exists" is retried with another id. Resolves with the id the guest was created with.
 */
export async function allocateAndCreate(
  client: ProxmoxClient,
  range: VmidRange,
  create: (vmid: number) => Promise<void>,
  options: VmidAllocationOptions = {},
): Promise<number> {
  const checked = checkVmidRange(range);
  const maxAttempts = options.maxAttempts ?? 20;
  return withHostLock(options.lockFile ?? DEFAULT_VMID_LOCK_FILE, options.lockWaitSeconds ?? 600, async () => {
    const taken = new Set<number>();
    let lastError: unknown;
    for (let attempt = 0; attempt < maxAttempts; attempt += 1) {
      const vmid = await proposeVmid(client, checked, taken);
      try {
        await create(vmid);
        return vmid;
      } catch (err) {
        if (!isVmidTaken(err)) throw err;
        taken.add(vmid);
        lastError = err;
      }
    }
    throw new ProxmoxError('vmid allocation', `every VMID tried was taken by someone else (${maxAttempts} attempts; last: ${lastError instanceof Error ? lastError.message : String(lastError)})`);
  });
}
