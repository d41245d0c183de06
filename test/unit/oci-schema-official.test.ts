// Our schemas against the official runtime-spec fixtures: both validators must give the fixture's verdict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileOfficialSchemas, listOfficialFixtures } from './fixtures/oci/official-schema.js';
import { parseConfigBytes } from '../../src/oci/config-file.js';
import { validateConfigSchema, validateFeaturesSchema, validateStateSchema } from '../../src/oci/schema-validate.js';
import type { Problem } from '../../src/oci/problems.js';

const ours: Record<'config' | 'state' | 'features', (doc: unknown) => Problem[]> = {
  config: validateConfigSchema,
  state: validateStateSchema,
  features: validateFeaturesSchema,
};

test('the reference fixtures are all there (19 files)', () => {
  const fixtures = listOfficialFixtures();
  assert.equal(fixtures.length, 19, `found ${fixtures.map((f) => f.name).join(', ')}`);
});

test('our schemas and the official ones give every fixture its expected verdict', () => {
  const official = compileOfficialSchemas();
  for (const fixture of listOfficialFixtures()) {
    let doc: unknown;
    try {
      doc = JSON.parse(fixture.text);
    } catch {
      // Syntactically broken fixtures (invalid-json.json) must be refused by the loader instead.
      assert.equal(fixture.expectValid, false, `${fixture.name} does not parse but is in good/`);
      const parsed = parseConfigBytes(fixture.text);
      assert.equal(parsed.spec, undefined, fixture.name);
      assert.equal(parsed.problems.length, 1, fixture.name);
      assert.equal(parsed.problems[0]?.path, '', fixture.name);
      assert.match(parsed.problems[0]?.message ?? '', /^invalid JSON: /, fixture.name);
      continue;
    }
    const officialValid = official[fixture.kind](doc);
    const ourProblems = ours[fixture.kind](doc);
    assert.equal(officialValid, fixture.expectValid, `official schema on ${fixture.name}`);
    assert.deepEqual(ourProblems.length === 0, fixture.expectValid, `our schema on ${fixture.name}: ${JSON.stringify(ourProblems)}`);
  }
});

test('the bad config fixtures fail for the reason they were written for', () => {
  const byName = new Map(listOfficialFixtures().map((f) => [f.name, f.text]));
  const problemsOf = (name: string): Problem[] => {
    const text = byName.get(name);
    assert.ok(text !== undefined, `fixture ${name} missing`);
    return validateConfigSchema(JSON.parse(text));
  };
  assert.deepEqual(problemsOf('config/bad/linux-hugepage.json'), [
    { path: '/linux/resources/hugepageLimits/0/pageSize', message: 'must be a page size such as 2MB or 1GB' },
  ]);
  assert.deepEqual(problemsOf('config/bad/linux-netdevice.json'), [
    { path: '/linux/netDevices/eth0/name', message: 'must be a string' },
  ]);
  assert.deepEqual(problemsOf('config/bad/linux-rdma.json'), [
    { path: '/linux/resources/rdma/mlx5_1/hcaHandles', message: 'must be an integer' },
  ]);
  assert.deepEqual(problemsOf('config/bad/freebsd-vnet-disable.json'), [
    { path: '/freebsd/jail/vnet', message: 'must be one of "new", "inherit"' },
  ]);
  assert.deepEqual(validateFeaturesSchema(JSON.parse(byName.get('features/bad/missing-ociVersionMax.json') ?? 'null')), [
    { path: '/ociVersionMax', message: 'is required' },
  ]);
});
