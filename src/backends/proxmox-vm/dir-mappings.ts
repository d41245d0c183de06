/**
 * Proxmox directory mappings (`/cluster/mapping/dir`, PVE >= 8.4) for the virtiofs shares of one
 * VM: a mapping names a host directory per node, and `virtiofsN: <mapping id>` in the VM config
 * makes qemu-server start a virtiofsd for it. The mapping's id is also the virtiofs tag the guest
 * mounts. Ids are derived from the VM folder's hash (known before the VMID), so that a create
 * that failed half-way can still find and remove them. Made and removed through the Proxmox client.
 */
import path from 'node:path';
import type { ProxmoxClient } from '../../proxmox/client.js';

/** `prx-<20 hex of the VM folder>-<n>`: a pve-configid and at most 36 characters, the virtio-fs tag limit. */
export function mappingId(vmDir: string, index: number): string {
  return `prx-${path.basename(vmDir)}-${index}`;
}

export async function createDirMapping(client: ProxmoxClient, id: string, node: string, directory: string): Promise<void> {
  if (/[,=]/.test(directory)) throw new Error(`a shared directory cannot contain "," or "=" (a property string): ${directory}`);
  await client.createDirMapping(id, node, directory, 'proxrun: a bind mount of a proxmox-vm container');
}
