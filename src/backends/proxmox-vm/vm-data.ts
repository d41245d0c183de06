/**
 * What the proxmox-vm backend remembers about one container. It goes into the record's
 * backendData once create succeeds, and into a progress file in the container's folder as soon
 * as each piece exists, so that a create that failed or was killed half-way can still be deleted.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface VmContainerData {
  vmid?: number;
  node?: string;
  /** The VM's own folder: per-VM initrd, chardev sockets, the monitor's socket and status files. */
  vmDir?: string;
  /** The ext4 image built from the rootfs, until Proxmox has imported it. */
  diskImage?: string;
  /** The monitor's pid (what the pid file holds); it leads its own session. */
  monitorPid?: number;
  /** QEMU's pid once the VM runs (what `state` reports). */
  qemuPid?: number;
  /** Directory mappings (`/cluster/mapping/dir` ids) made for the virtiofs shares; recorded before they are made. */
  mappings?: string[];
}

const PROGRESS_FILE = 'proxmox-vm.json';
const STARTED_FILE = 'proxmox-vm.started';

export function progressFile(containerDir: string): string {
  return path.join(containerDir, PROGRESS_FILE);
}

/** Exists once `start` let the payload run. */
export function startedMarker(containerDir: string): string {
  return path.join(containerDir, STARTED_FILE);
}

/** Records progress atomically; an empty containerDir (as in `check`) records nothing. */
export function saveProgress(containerDir: string, data: VmContainerData): void {
  if (containerDir === '') return;
  const file = progressFile(containerDir);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** The record's data, else the progress file, else nothing known. */
export function loadVmData(backendData: Record<string, unknown>, containerDir: string): VmContainerData {
  if (typeof backendData['vmid'] === 'number') return backendData as VmContainerData;
  try {
    return JSON.parse(fs.readFileSync(progressFile(containerDir), 'utf8')) as VmContainerData;
  } catch {
    return {};
  }
}
