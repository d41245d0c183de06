// The precompiled validators must never compile a schema at run time: proxrun starts once per runtime call.
// Their import time is measured by `npm run bench` (docs/performance.md), not asserted here.
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

test('importing the validators compiles no schema: they load and validate with code generation forbidden', () => {
  // ajv compiles a schema by generating code with `new Function`; precompiled validators never do.
  // A fresh process forbids both ways of generating code, then imports the validators and uses one.
  // (How long the import takes is measured by `npm run bench`, not asserted here.)
  const url = pathToFileURL(validatorsFile).href;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-import-'));
  const entry = path.join(dir, 'check.mjs');
  fs.writeFileSync(entry, [
    'const forbid = (what) => () => { throw new Error(`${what} was called while loading the validators`); };',
    "globalThis.Function = new Proxy(Function, { apply: forbid('Function()'), construct: forbid('new Function()') });",
    "globalThis.eval = forbid('eval()');",
    `const { validateOciConfig } = await import(${JSON.stringify(url)});`,
    "const good = validateOciConfig({ ociVersion: '1.0.2' });",
    'const bad = validateOciConfig({});',
    "process.stdout.write(JSON.stringify({ good, bad, error: validateOciConfig.errors?.[0]?.keyword }));",
  ].join('\n'));
  let out: string;
  try {
    out = execFileSync(process.execPath, ['--disallow-code-generation-from-strings', entry], { encoding: 'utf8' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(JSON.parse(out), { good: true, bad: false, error: 'required' });
});
