/**
 * What the proxmox-vm backend remembers about one container: the record's backendData, which
 * create fills through the runtime's progress recorder before each piece is made, so that a
 * create that failed or was killed half-way can still be deleted.
 */
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

const STARTED_FILE = 'proxmox-vm.started';

/** Exists once `start` let the payload run. */
export function startedMarker(containerDir: string): string {
  return path.join(containerDir, STARTED_FILE);
}

/** The backend's data in a record (during create: its progress so far). */
export function vmData(backendData: Readonly<Record<string, unknown>>): VmContainerData {
  return backendData as VmContainerData;
}
