/**
 * What `exec` and `start` need of the container's process after `create` (the spec is not kept):
 * `oomScoreAdj` (Proxmox has no option for it: `start` writes `/proc/<init>/oom_score_adj` from
 * the host while the init waits at its gate, and the app inherits it; every exec gets it too, as
 * runc's nsexec writes the container's value for execs), whether the CT is unprivileged (an exec's
 * stdio is handed to its user through the id map), the container's seccomp profile (runc
 * applies it to every exec), its rlimits (an exec without rlimits of its own gets them) and the
 * CT's bounding set (an exec can have no capability outside it).
 */
import { writeFile } from 'node:fs/promises';
import type { LinuxSeccomp, Rlimit } from '../../oci/spec.js';
import type { CtPlan } from './translate/ct-plan.js';

export interface ProcessOptions {
  /** Whether the CT has a user namespace (Proxmox's default id map): exec maps its user's uid through it. */
  readonly unprivileged?: boolean;
  readonly oomScoreAdj?: number;
  readonly seccomp?: LinuxSeccomp;
  readonly rlimits: readonly Rlimit[];
  readonly ctCapabilities: readonly string[];
}

const KEY = 'processOptions';

/** The backend-data entry that records the options of a plan. */
export function processOptionsEntry(plan: CtPlan): Record<string, ProcessOptions> {
  return {
    [KEY]: {
      unprivileged: plan.createParams['unprivileged'] === 1,
      ...(plan.oomScoreAdj !== undefined ? { oomScoreAdj: plan.oomScoreAdj } : {}),
      ...(plan.seccomp !== undefined ? { seccomp: plan.seccomp } : {}),
      rlimits: plan.rlimits,
      ctCapabilities: plan.ctCapabilities,
    },
  };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

export function processOptionsOf(backendData: Record<string, unknown>): ProcessOptions {
  const raw = backendData[KEY];
  if (typeof raw !== 'object' || raw === null) return { rlimits: [], ctCapabilities: [] };
  const { unprivileged, oomScoreAdj, seccomp, rlimits, ctCapabilities } = raw as Record<string, unknown>;
  return {
    unprivileged: unprivileged === true,
    ...(typeof oomScoreAdj === 'number' && Number.isInteger(oomScoreAdj) ? { oomScoreAdj } : {}),
    ...(typeof seccomp === 'object' && seccomp !== null ? { seccomp: seccomp as LinuxSeccomp } : {}),
    rlimits: Array.isArray(rlimits) ? (rlimits as Rlimit[]) : [],
    ctCapabilities: isStringArray(ctCapabilities) ? ctCapabilities : [],
  };
}

/** Sets the OOM score adjustment of a host process (the CT init, before the app exists). */
export async function applyOomScoreAdj(pid: number, value: number): Promise<void> {
  if (value < -1000 || value > 1000) throw new Error(`process.oomScoreAdj ${value} is outside -1000..1000`);
  await writeFile(`/proc/${pid}/oom_score_adj`, String(value));
}
