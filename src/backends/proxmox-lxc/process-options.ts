/**
 * The parts of `process` that neither Proxmox nor LXC's config can hold: `noNewPrivileges` and
 * `oomScoreAdj`. `create` keeps them in the record's backend data; `start` applies them while the
 * CT's init waits at its gate: the host writes `/proc/<init>/oom_score_adj` (the app, forked by
 * the init, inherits it), and the start order tells the init to run the app under
 * `setpriv --nnp` (docs/monitor-design.md).
 */
import { writeFile } from 'node:fs/promises';
import type { CtPlan } from './translate/ct-plan.js';

export interface ProcessOptions {
  readonly noNewPrivileges: boolean;
  readonly oomScoreAdj?: number;
}

const KEY = 'processOptions';

/** The backend-data entry that records the options of a plan. */
export function processOptionsEntry(plan: CtPlan): Record<string, ProcessOptions> {
  return {
    [KEY]: {
      noNewPrivileges: plan.noNewPrivileges === true,
      ...(plan.oomScoreAdj !== undefined ? { oomScoreAdj: plan.oomScoreAdj } : {}),
    },
  };
}

export function processOptionsOf(backendData: Record<string, unknown>): ProcessOptions {
  const raw = backendData[KEY];
  if (typeof raw !== 'object' || raw === null) return { noNewPrivileges: false };
  const { noNewPrivileges, oomScoreAdj } = raw as Record<string, unknown>;
  return {
    noNewPrivileges: noNewPrivileges === true,
    ...(typeof oomScoreAdj === 'number' && Number.isInteger(oomScoreAdj) ? { oomScoreAdj } : {}),
  };
}

/** Sets the OOM score adjustment of a host process (the CT init, before the app exists). */
export async function applyOomScoreAdj(pid: number, value: number): Promise<void> {
  if (value < -1000 || value > 1000) throw new Error(`process.oomScoreAdj ${value} is outside -1000..1000`);
  await writeFile(`/proc/${pid}/oom_score_adj`, String(value));
}
