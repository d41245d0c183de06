/**
 * For any test that drove a simulator: every request with an API path that it received must have
 * passed the official schema. Reads `SIMROOT/requests.jsonl` and fails naming the offending requests.
 */
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

interface RequestRecord {
  method?: string;
  path?: string;
  params?: Record<string, unknown>;
  schema?: string;
  errors?: Record<string, string>;
}

/** Records with a path whose verdict is not `passed` (failed, not-in-schema or no-schema). */
export function requestsNotPassingSchema(simRoot: string): RequestRecord[] {
  const file = path.join(simRoot, 'requests.jsonl');
  const text = fs.readFileSync(file, 'utf8');
  const records = text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as RequestRecord);
  return records.filter((r) => r.path !== undefined && r.schema !== 'passed');
}

/**
 * Fails when any request with a path did not pass the official schema. A simulator that ran
 * without the schema file fails too: nothing was checked then.
 */
export function assertAllRequestsPassedSchema(simRoot: string): void {
  const bad = requestsNotPassingSchema(simRoot);
  if (bad.length === 0) return;
  const shown = bad.slice(0, 5).map((r) => `${r.method ?? '?'} ${r.path ?? '?'} (${r.schema ?? 'no verdict'}) params=${JSON.stringify(r.params ?? {})}${r.errors ? ` errors=${JSON.stringify(r.errors)}` : ''}`);
  assert.fail(`${bad.length} request(s) did not pass the official PVE API schema:\n${shown.join('\n')}${bad.length > 5 ? `\n... and ${bad.length - 5} more` : ''}`);
}
