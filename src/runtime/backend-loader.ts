/**
 * Which backends exist and how the runtime loads one: lazily, so a command loads only the code of
 * the backend its container uses. The names come from schemas/proxrun-config.schema.json (the
 * BackendName enum), the one list of backend names.
 */
import { BACKEND_NAME_VALUES } from '../oci/generated/proxrun-config-constants.js';
import type { Backend, BackendName } from './backend.js';

export const BACKEND_NAMES: readonly BackendName[] = BACKEND_NAME_VALUES;

export function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}

/** Loads a backend's code only when a container needs it. */
export async function loadBackend(name: BackendName): Promise<Backend> {
  switch (name) {
    case 'runc':
    case 'crun': {
      const { createPassthroughBackend } = await import('../backends/passthrough/index.js');
      return createPassthroughBackend(name);
    }
    case 'proxmox-lxc':
      return (await import('../backends/proxmox-lxc/index.js')).createProxmoxLxcBackend();
    case 'proxmox-vm':
      return (await import('../backends/proxmox-vm/index.js')).createProxmoxVmBackend();
    default: {
      // A name added to the schema's enum without a case here fails the type check.
      const unknown: never = name;
      throw new (await import('./errors.js')).RuntimeError('Unsupported', `backend ${String(unknown)} is not available in this build of proxrun`);
    }
  }
}
