/**
 * For any test that drove a simulator: every request with an API path that it received must have
 * passed the parameter rules, the official schema where its file is (and then the simulator's own
 * rules too, recorded beside), the simulator's own rules (own-rules.ts) where it is not. Reads
 * `SIMROOT/requests.jsonl` and fails naming the offending requests and the rules they broke.
 */
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

interface RequestRecord {
  method?: string;
  path?: string;
  params?: Record<string, unknown>;
  rules?: string;
  schema?: string;
  errors?: Record<string, string>;
  own?: string;
  ownErrors?: Record<string, string>;
}

function readRecords(simRoot: string): RequestRecord[] {
  const text = fs.readFileSync(path.join(simRoot, 'requests.jsonl'), 'utf8');
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as RequestRecord);
}

/**
 * Records with a path whose verdict is not `passed` (failed or not-in-schema), or whose own-rules
 * verdict beside the official one is not. A record without a verdict from any rules counts too.
 */
export function requestsNotPassingSchema(simRoot: string): RequestRecord[] {
  return readRecords(simRoot).filter((r) => r.path !== undefined && (r.schema !== 'passed' || (r.own !== undefined && r.own !== 'passed')));
}

/** Which rules judged the requests a simulator received: `official`, `own`, or both when it changed. */
export function rulesUsed(simRoot: string): Set<string> {
  return new Set(readRecords(simRoot).filter((r) => r.path !== undefined).map((r) => r.rules ?? 'none'));
}

/** Fails when any request with a path did not pass the parameter rules the simulator had. */
export function assertAllRequestsPassedSchema(simRoot: string): void {
  const bad = requestsNotPassingSchema(simRoot);
  if (bad.length === 0) return;
  const shown = bad.slice(0, 5).map((r) => {
    const verdicts = `${r.rules ?? 'no'} rules: ${r.schema ?? 'no verdict'}${r.own !== undefined ? `, own rules: ${r.own}` : ''}`;
    const errors = { ...(r.errors ?? {}), ...Object.fromEntries(Object.entries(r.ownErrors ?? {}).map(([k, v]) => [`own:${k}`, v])) };
    return `${r.method ?? '?'} ${r.path ?? '?'} (${verdicts}) params=${JSON.stringify(r.params ?? {})}${Object.keys(errors).length > 0 ? ` errors=${JSON.stringify(errors)}` : ''}`;
  });
  assert.fail(`${bad.length} request(s) did not pass the PVE API parameter rules:\n${shown.join('\n')}${bad.length > 5 ? `\n... and ${bad.length - 5} more` : ''}`);
}
