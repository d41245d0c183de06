/**
 * Kubernetes pods as containerd's CRI plugin hands them to a runtime: every config.json carries
 * `io.kubernetes.cri.container-type` (`sandbox` for the pod's pause container, `container` for
 * the others) and `io.kubernetes.cri.sandbox-id`. A pod's containers join its sandbox's network,
 * IPC and UTS namespaces (and pid with shareProcessNamespace), so they must run on the backend
 * the sandbox runs on: the first container that asks for another is refused, by name. proxmox-vm
 * cannot hold a pod at all: each container would be a VM of its own, and a VM shares no
 * namespace with anything outside it. Pure: the caller looks up the sandbox's backend.
 */
import { joinPointer, type Problem } from '../oci/problems.js';
import type { BackendName } from './state-store.js';

export const CRI_CONTAINER_TYPE = 'io.kubernetes.cri.container-type';
export const CRI_SANDBOX_ID = 'io.kubernetes.cri.sandbox-id';

/**
 * Why a CRI container cannot run on `backend`, or undefined when it can (and for any config
 * that does not come from the CRI plugin). `sandboxBackend(id)` answers the backend recorded for
 * the pod's sandbox under the same root, or undefined when there is no such record (a sandbox
 * that another runtime root holds: nothing to compare with).
 */
export function podBackendProblem(
  annotations: Readonly<Record<string, string | undefined>> | undefined,
  backend: BackendName,
  backendAnnotation: string,
  sandboxBackend: (sandboxId: string) => BackendName | undefined,
): Problem | undefined {
  const type = annotations?.[CRI_CONTAINER_TYPE];
  if (type !== 'sandbox' && type !== 'container') return undefined;
  const path = joinPointer('/annotations', backendAnnotation);
  if (backend === 'proxmox-vm') {
    return {
      path,
      message: 'proxmox-vm cannot run a Kubernetes pod: each container would be a VM of its own, and a VM cannot share the pod\'s network, IPC and UTS namespaces (run pods on runc or crun)',
    };
  }
  if (type !== 'container') return undefined;
  const sandboxId = annotations?.[CRI_SANDBOX_ID];
  if (sandboxId === undefined) return undefined;
  const podBackend = sandboxBackend(sandboxId);
  if (podBackend === undefined || podBackend === backend) return undefined;
  return {
    path,
    message: `${backend}, but this container's pod (sandbox ${sandboxId}) runs on ${podBackend}: a pod's containers share its namespaces, so they all run on the pod's backend`,
  };
}
