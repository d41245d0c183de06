/** The state JSON hooks get on stdin: runtime-spec state with the CT's identity. */
import { buildState } from '../../runtime/oci-state.js';
import type { ContainerStatus } from '../../runtime/backend.js';
import type { ContainerRecord } from '../../runtime/state-store.js';

export const VMID_ANNOTATION = 'io.proxrun.pve.vmid';
export const NODE_ANNOTATION = 'io.proxrun.pve.node';

export function pveAnnotations(vmid: number | undefined, node: string | undefined): Record<string, string> {
  const annotations: Record<string, string> = {};
  if (vmid !== undefined) annotations[VMID_ANNOTATION] = String(vmid);
  if (node !== undefined) annotations[NODE_ANNOTATION] = node;
  return annotations;
}

export function hookStateJson(record: ContainerRecord, status: ContainerStatus, pid: number, vmid: number | undefined, node: string | undefined): string {
  return JSON.stringify(buildState(record, { status, pid, annotations: pveAnnotations(vmid, node) }));
}
