// Types of scripts/leak-check.mjs (plain JavaScript, so that scripts/run-tests.mjs runs without a build).
export interface Leak {
  kind: string;
  /** One line naming it, for the run's report. */
  what: string;
  pid?: number;
  root?: string;
  mount?: string;
  loop?: string;
  netns?: string;
  container?: { lxcPath: string; name: string };
}
export function findLeaks(options: { runId: string; runDir: string; ledgerFile: string; ignorePids?: number[] }): Leak[];
export function cleanLeaks(leaks: readonly Leak[], options: { repoRoot: string }): void;
export function removeRunDir(runDir: string): boolean;
