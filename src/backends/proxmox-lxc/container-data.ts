/**
 * What the proxmox-lxc backend remembers about one container. It goes into the
 * record's backendData once create succeeds, and into a progress file in the
 * container's folder as soon as each piece exists, so that a create killed
 * half-way can still be deleted.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Hook } from '../../oci/spec.js';

export interface LxcContainerData {
  vmid?: number;
  node?: string;
  /** The monitor folder (FIFOs, scripts). */
  monitorDir?: string;
  /** The monitor's pid (what the pid file holds); its process group id too. */
  monitorPid?: number;
  /** A template volume proxrun put on the storage for this container (removed after create). */
  templateVolid?: string;
  templateStorage?: string;
  /** The container's storage and its rootfs volume. */
  rootfsVolid?: string;
  /** Hooks that run after create (the spec is not kept). */
  hooks?: { poststart: Hook[]; poststop: Hook[] };
}

const PROGRESS_FILE = 'proxmox-lxc.json';
const STARTED_FILE = 'proxmox-lxc.started';

export function progressFile(containerDir: string): string {
  return path.join(containerDir, PROGRESS_FILE);
}

export function startedMarker(containerDir: string): string {
  return path.join(containerDir, STARTED_FILE);
}

/** Records progress (atomically); a folder that is gone (an empty containerDir in `check`) is skipped. */
export function saveProgress(containerDir: string, data: LxcContainerData): void {
  if (containerDir === '') return;
  const file = progressFile(containerDir);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** The record's data, else the progress file, else nothing known. */
export function loadContainerData(backendData: Record<string, unknown>, containerDir: string): LxcContainerData {
  if (typeof backendData['vmid'] === 'number') return backendData as LxcContainerData;
  try {
    return JSON.parse(fs.readFileSync(progressFile(containerDir), 'utf8')) as LxcContainerData;
  } catch {
    return {};
  }
}
