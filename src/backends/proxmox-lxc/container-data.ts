/**
 * What the proxmox-lxc backend remembers about one container: the record's backendData, which
 * create fills through the runtime's progress recorder before each piece is made, so that a
 * create that failed or was killed half-way can still be deleted.
 */
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

const STARTED_FILE = 'proxmox-lxc.started';

export function startedMarker(containerDir: string): string {
  return path.join(containerDir, STARTED_FILE);
}

/** The backend's data in a record (during create: its progress so far). */
export function containerData(backendData: Readonly<Record<string, unknown>>): LxcContainerData {
  return backendData as LxcContainerData;
}
