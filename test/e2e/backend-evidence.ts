/**
 * Which real runtime holds a running container, judged from the state it keeps under the
 * runtime root: runc writes `<id>/state.json` with an `init_process_pid`; crun writes
 * `<id>/status` next to `<id>/config.json`. proxrun nests the backend's root somewhere under
 * its own `--root`, so the whole tree is searched, not a fixed path.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { PassthroughBackend } from './e2e-settings.js';

function directoriesNamed(root: string, name: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    let entries: string[];
    try { entries = readdirSync(dir); } catch { return; }
    for (const entry of entries) {
      const full = path.join(dir, entry);
      let isDir = false;
      try { isDir = statSync(full).isDirectory(); } catch { continue; }
      if (!isDir) continue;
      if (entry === name) found.push(full);
      walk(full);
    }
  };
  walk(root);
  return found;
}

function holdsRuncState(dir: string): boolean {
  try {
    const state: unknown = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8'));
    return typeof state === 'object' && state !== null && 'init_process_pid' in state;
  } catch {
    return false;
  }
}

function holdsCrunState(dir: string): boolean {
  try {
    return statSync(path.join(dir, 'status')).isFile() && statSync(path.join(dir, 'config.json')).isFile();
  } catch {
    return false;
  }
}

/** The backends whose state for container `id` exists under `runtimeRoot`. */
export function backendsHolding(runtimeRoot: string, id: string): PassthroughBackend[] {
  const dirs = directoriesNamed(runtimeRoot, id);
  const holders: PassthroughBackend[] = [];
  if (dirs.some(holdsRuncState)) holders.push('runc');
  if (dirs.some(holdsCrunState)) holders.push('crun');
  return holders;
}
