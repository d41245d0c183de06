// What real engines send must pass every check: the configs podman, containerd's ctr and `runc spec` wrote
// (fixtures/oci/engines/README.md says how they were captured), against our schema and the spec's rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { checkConfigRules } from '../../src/oci/rules.js';
import { validateConfigSchema } from '../../src/oci/schema-validate.js';
import type { Spec } from '../../src/oci/spec.js';
import { repoRoot } from './fixtures/oci/official-schema.js';

const dir = path.join(repoRoot, 'test/unit/fixtures/oci/engines');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

test('the captured engine configs are all there', () => {
  assert.deepEqual(files.map((f) => f.split('-')[0]).filter((v, i, a) => a.indexOf(v) === i), ['ctr', 'podman', 'runc']);
  assert.ok(files.length >= 9, files.join(', '));
});

for (const file of files) {
  test(`${file} passes the schema and every rule`, () => {
    const doc: unknown = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    assert.deepEqual(validateConfigSchema(doc), []);
    assert.deepEqual(checkConfigRules(doc as Spec), []);
  });
}
