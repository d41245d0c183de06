import { loadRuntime, writeStdout } from './common.js';
import { requirePositionals, type CommandSpec } from './parse.js';

declare const __PROXRUN_VERSION__: string;

export const features: CommandSpec = {
  name: 'features',
  usage: 'features',
  summary: 'print what proxrun (and its default backend) supports, as runtime-spec features JSON',
  async run(cmd, globals) {
    requirePositionals(cmd, features, 0);
    const { SPEC_VERSION, SPEC_VERSION_MIN } = await import('../runtime/oci-state.js');
    const own: Record<string, unknown> = {
      ociVersionMin: SPEC_VERSION_MIN,
      ociVersionMax: SPEC_VERSION,
      hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
      annotations: {
        'io.proxrun.version': typeof __PROXRUN_VERSION__ === 'string' ? __PROXRUN_VERSION__ : 'dev',
        'io.proxrun.backends': 'runc,crun,proxmox-lxc,proxmox-vm',
      },
      potentiallyUnsafeConfigAnnotations: ['io.proxrun.'],
    };
    const fromBackend = await (await loadRuntime(globals)).backendFeatures();
    await writeStdout(JSON.stringify(mergeFeatures(own, fromBackend), null, 2) + '\n');
    return 0;
  },
};

/** The backend's answer, with proxrun's version range, annotations and unsafe-annotation list laid over it. */
export function mergeFeatures(own: Record<string, unknown>, backend: Record<string, unknown> | null): Record<string, unknown> {
  if (!backend) return own;
  const merged: Record<string, unknown> = { ...backend, ociVersionMin: own.ociVersionMin, ociVersionMax: own.ociVersionMax };
  merged.annotations = { ...(asRecord(backend.annotations) ?? {}), ...(asRecord(own.annotations) ?? {}) };
  const unsafe = new Set<string>([...asStrings(backend.potentiallyUnsafeConfigAnnotations), ...asStrings(own.potentiallyUnsafeConfigAnnotations)]);
  merged.potentiallyUnsafeConfigAnnotations = [...unsafe];
  if (!Array.isArray(backend.hooks)) merged.hooks = own.hooks;
  return merged;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function asStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
