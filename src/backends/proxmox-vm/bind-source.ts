/** What a bind mount's source is on this host, for the plan (vm-plan.ts stays free of I/O). */
import fs from 'node:fs';
import type { BindSource } from './translate/vm-plan.js';

export function describeSource(source: string): BindSource {
  try {
    const info = fs.statSync(source);
    if (info.isFile()) return { kind: 'file', size: info.size };
    if (info.isDirectory()) return { kind: 'directory', size: 0 };
    return { kind: 'other', size: 0 };
  } catch {
    return { kind: 'missing', size: 0 };
  }
}
