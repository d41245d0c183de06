// Start-up cost: proxrun runs once per runtime call, so loading the precompiled validators must stay cheap,
// and they must never compile a schema at run time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './fixtures/oci/official-schema.js';

const validatorsFile = path.join(repoRoot, 'src/oci/generated/validators.js');

test('the generated validators exist (run `npm run build` or `node scripts/build-schemas.mjs` first)', () => {
  assert.ok(fs.existsSync(validatorsFile), `${validatorsFile} is missing: run node scripts/build-schemas.mjs`);
});

test('the generated validators import only ajv run-time helpers, never the ajv compiler', () => {
  const code = fs.readFileSync(validatorsFile, 'utf8');
  const imports = [...code.matchAll(/\bfrom\s+"([^"]+)"/g)].map((m) => m[1] ?? '');
  for (const specifier of imports) assert.match(specifier, /^ajv\/dist\/runtime\/\w+\.js$/, specifier);
  assert.doesNotMatch(code, /\brequire\(/);
  assert.doesNotMatch(code, /new Ajv|ajv\/dist\/(core|ajv|compile)/);
});

test('importing the validators takes well under 15 ms (best of 5 fresh processes)', () => {
  // A module file as entry point, as the bundled proxrun is: the ES module loader is already up when timing starts.
  const url = pathToFileURL(validatorsFile).href;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-import-'));
  const entry = path.join(dir, 'measure.mjs');
  fs.writeFileSync(entry, `const t = performance.now(); await import(${JSON.stringify(url)}); process.stdout.write(String(performance.now() - t));`);
  const times: number[] = [];
  try {
    for (let i = 0; i < 5; i += 1) times.push(Number(execFileSync(process.execPath, [entry], { encoding: 'utf8' })));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const best = Math.min(...times);
  assert.ok(Number.isFinite(best), `could not measure: ${times.join(', ')}`);
  process.stdout.write(`# validators import: best ${best.toFixed(2)} ms of ${times.map((t) => t.toFixed(1)).join(', ')}\n`);
  assert.ok(best < 15, `importing the validators took ${best.toFixed(2)} ms`);
});
