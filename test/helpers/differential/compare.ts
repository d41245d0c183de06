/**
 * Field-by-field comparison of two probe reports (probe.ts): every key of either report must have
 * the same values on both sides, unless an allowed difference (given by the test, each with its
 * reason) covers that key for this pair of values. Returns one line per difference that no rule
 * allows, so a test asserts an empty list and shows what differs when it is not.
 */
import type { ProbeReport } from './probe.js';

export interface AllowedDifference {
  /** The key, or a pattern of keys (e.g. /^limit\./). */
  readonly key: string | RegExp;
  /** Why the two runtimes may differ here; shown when the rule is used. */
  readonly reason: string;
  /** Whether the rule covers this pair of values (default: any pair). */
  readonly applies?: (reference: readonly string[], candidate: readonly string[]) => boolean;
}

export interface Comparison {
  /** Differences no rule allows: `key: reference ≠ candidate`. */
  readonly unexplained: string[];
  /** Differences a rule allowed: `key: reference ≠ candidate (reason)`. */
  readonly allowed: string[];
}

function matches(rule: AllowedDifference, key: string): boolean {
  return typeof rule.key === 'string' ? rule.key === key : rule.key.test(key);
}

export function compareProbes(reference: ProbeReport, candidate: ProbeReport, rules: readonly AllowedDifference[]): Comparison {
  const unexplained: string[] = [];
  const allowed: string[] = [];
  const keys = [...new Set([...reference.keys(), ...candidate.keys()])].sort();
  for (const key of keys) {
    const a = reference.get(key) ?? [];
    const b = candidate.get(key) ?? [];
    if (a.length === b.length && a.every((v, i) => v === b[i])) continue;
    const line = `${key}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`;
    const rule = rules.find((r) => matches(r, key) && (r.applies === undefined || r.applies(a, b)));
    if (rule === undefined) unexplained.push(line);
    else allowed.push(`${line} (${rule.reason})`);
  }
  return { unexplained, allowed };
}
