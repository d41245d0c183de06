/**
 * Fault injection rules (`DIR/faults.json`), read fresh on every use so `scripts/pve-sim fault` only
 * edits the file. A rule matches an API request (`POST /nodes/*\/lxc`), a task type (`task vzcreate`)
 * or a CLI command (`cli pct start`); `*` stands for one path segment or word.
 */
import fs from 'node:fs';

export type FaultMode = 'error' | 'slow' | 'hang' | 'drop';

export interface FaultRule {
  match: string;
  mode: FaultMode;
  /** How many more times the rule applies; undefined = always. */
  count?: number;
  message?: string;
  /** Delay for `slow`, milliseconds (default 5000). */
  delayMs?: number;
}

export const FAULT_MODES: readonly FaultMode[] = ['error', 'slow', 'hang', 'drop'];

function patternToRegExp(pattern: string): RegExp {
  const src = pattern
    .trim()
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/ ]*');
  return new RegExp(`^${src}$`);
}

export function readFaults(file: string): FaultRule[] {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as FaultRule[];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export function writeFaults(file: string, rules: FaultRule[]): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(rules, null, 1)}\n`);
  fs.renameSync(tmp, file);
}

/**
 * Finds the first rule matching `subject` (e.g. `POST /nodes/pve1/lxc`, `task vzstart`,
 * `cli pct start 100`: a CLI rule matches the command's leading words) and uses up one count.
 */
export function takeFault(file: string, subject: string): FaultRule | undefined {
  const rules = readFaults(file);
  const index = rules.findIndex((r) => {
    const re = patternToRegExp(r.match);
    if (re.test(subject)) return true;
    if (!r.match.startsWith('cli ')) return false;
    const words = subject.split(' ');
    for (let n = words.length - 1; n >= 2; n -= 1) if (re.test(words.slice(0, n).join(' '))) return true;
    return false;
  });
  if (index < 0) return undefined;
  const rule = rules[index];
  if (!rule) return undefined;
  if (rule.count !== undefined) {
    if (rule.count <= 1) rules.splice(index, 1);
    else rules[index] = { ...rule, count: rule.count - 1 };
    writeFaults(file, rules);
  }
  return rule;
}
