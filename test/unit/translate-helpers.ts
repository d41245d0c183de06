// Shared pieces for the translate tests: a minimal spec the backend accepts, and a deep merge for fragments.
import type { Spec } from '../../src/oci/spec.js';
import type { TranslateOptions } from '../../src/backends/proxmox-lxc/translate/ct-plan.js';

export const ID = 'c1';
export const OPTIONS: TranslateOptions = { containerId: ID, lenient: false, storage: 'local' };

/** The smallest spec that translates without problems. */
export function baseSpec(): Spec {
  return {
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { args: ['sh', '-c', 'echo hi'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } },
    linux: { namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }] },
  };
}

type Json = Record<string, unknown>;
function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `base` with `fragment` merged in (objects merge, arrays and scalars replace). */
export function merge<T>(base: T, fragment: Json): T {
  const out: Json = { ...(base as Json) };
  for (const [key, value] of Object.entries(fragment)) {
    const current = out[key];
    out[key] = isObject(current) && isObject(value) ? merge(current, value) : value;
  }
  return out as T;
}

export function withSpec(fragment: Json): Spec {
  return merge(baseSpec(), fragment);
}
