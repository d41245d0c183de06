/**
 * Where a CT's monitor folder lives. Not under proxrun's state root, nor under its
 * default /run/proxrun: a state root is mode 0700 (every command makes it so), and an
 * unprivileged CT's root (host uid 100000) must be able to reach the bind-mount source
 * through every parent folder. The name
 * joins the VMID with a hash of the container's state folder, so two proxrun
 * roots (or two simulators reusing a VMID) never share one.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';

export const MONITOR_BASE = '/run/proxrun-ct';

export function monitorDirFor(vmid: number, containerDir: string): string {
  const hash = createHash('sha256').update(containerDir).digest('hex').slice(0, 12);
  return path.join(MONITOR_BASE, `${vmid}-${hash}`);
}

/** Makes the base folders searchable by others (o+x), as the bind mount needs. */
export async function ensureMonitorBase(): Promise<void> {
  await mkdir(MONITOR_BASE, { recursive: true, mode: 0o755 });
  await chmod(MONITOR_BASE, 0o755);
}
