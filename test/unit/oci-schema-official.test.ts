// Our schemas against fixtures with a known verdict: our own fixtures (test/unit/fixtures/oci/<kind>/<good|bad>)
// checked by our validators and by the official schema Debian ships, and, when the repository sits beside
// ../shared, the runtime-spec's own fixtures checked by our validators and the newest official schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileOfficialSchemas,
  listOfficialFixtures,
  listOwnFixtures,
  referenceSkipReason,
  withoutDebianSchemaGaps,
  type Fixture,
} from './fixtures/oci/official-schema.js';
import { parseConfigBytes } from '../../src/oci/config-file.js';
import { validateConfigSchema, validateFeaturesSchema, validateStateSchema } from '../../src/oci/schema-validate.js';
import type { Problem } from '../../src/oci/problems.js';

const ours: Record<'config' | 'state' | 'features', (doc: unknown) => Problem[]> = {
  config: validateConfigSchema,
  state: validateStateSchema,
  features: validateFeaturesSchema,
};

/** Parses a fixture; a fixture that is not JSON must be a bad one and be refused by the config loader in one line. */
function parseFixture(fixture: Fixture): { doc: unknown } | undefined {
  try {
    return { doc: JSON.parse(fixture.text) as unknown };
  } catch {
    assert.equal(fixture.expectValid, false, `${fixture.name} does not parse but is in good/`);
    const parsed = parseConfigBytes(fixture.text);
    assert.equal(parsed.spec, undefined, fixture.name);
    assert.equal(parsed.problems.length, 1, fixture.name);
    assert.equal(parsed.problems[0]?.path, '', fixture.name);
    assert.match(parsed.problems[0]?.message ?? '', /^invalid JSON: /, fixture.name);
    return undefined;
  }
}

test('our own fixtures cover every kind and verdict, unparseable JSON included', () => {
  const names = listOwnFixtures().map((f) => f.name);
  for (const folder of ['config/good/', 'config/bad/', 'state/good/', 'state/bad/', 'features/good/', 'features/bad/']) {
    assert.ok(names.some((n) => n.startsWith(folder)), `no fixture in ${folder}`);
  }
  assert.ok(names.includes('config/bad/invalid-json.json') && names.includes('state/bad/invalid-json.json'));
  assert.ok(names.length >= 20, `only ${names.length} fixtures`);
});

test("our fixtures get their verdict from our schemas and from Debian's official schema", () => {
  const debian = compileOfficialSchemas('debian');
  let comparedWithDebian = 0;
  for (const fixture of listOwnFixtures()) {
    const parsed = parseFixture(fixture);
    if (parsed === undefined) continue;
    const ourProblems = ours[fixture.kind](parsed.doc);
    assert.equal(ourProblems.length === 0, fixture.expectValid, `our schema on ${fixture.name}: ${JSON.stringify(ourProblems)}`);
    const official = debian[fixture.kind];
    if (official === undefined) continue; // Debian's revision has no features schema.
    const common = withoutDebianSchemaGaps(parsed.doc);
    if (JSON.stringify(common) === JSON.stringify(parsed.doc)) {
      assert.equal(official(parsed.doc), fixture.expectValid, `Debian's official schema on ${fixture.name}`);
    } else {
      // The fixture is about something Debian's older revision does not know: on the common ground they agree.
      assert.equal(official(common), ours[fixture.kind](common).length === 0, `Debian's official schema on the common part of ${fixture.name}`);
    }
    comparedWithDebian += 1;
  }
  assert.ok(comparedWithDebian >= 15, `only ${comparedWithDebian} fixtures compared with Debian's schema`);
});

test('our bad config fixtures fail for the reason they were written for', () => {
  const byName = new Map(listOwnFixtures().map((f) => [f.name, f.text]));
  const problemsOf = (name: string, validate: (doc: unknown) => Problem[] = validateConfigSchema): Problem[] => {
    const text = byName.get(name);
    assert.ok(text !== undefined, `fixture ${name} missing`);
    return validate(JSON.parse(text));
  };
  assert.deepEqual(problemsOf('config/bad/hugepage-size.json'), [
    { path: '/linux/resources/hugepageLimits/0/pageSize', message: 'must be a page size such as 2MB or 1GB' },
  ]);
  assert.deepEqual(problemsOf('config/bad/netdevice-name.json'), [
    { path: '/linux/netDevices/ens4f1/name', message: 'must be a string' },
  ]);
  assert.deepEqual(problemsOf('config/bad/rdma-count.json'), [
    { path: '/linux/resources/rdma/mlx5_1/hcaObjects', message: 'must be an integer' },
  ]);
  assert.deepEqual(problemsOf('config/bad/freebsd-vnet.json'), [
    { path: '/freebsd/jail/vnet', message: 'must be one of "new", "inherit"' },
  ]);
  assert.deepEqual(problemsOf('config/bad/rlimit-name.json'), [
    { path: '/process/rlimits/0/type', message: 'must be a resource of setrlimit(2), such as "RLIMIT_NOFILE"' },
  ]);
  assert.deepEqual(problemsOf('config/bad/missing-version.json'), [{ path: '/ociVersion', message: 'is required' }]);
  assert.deepEqual(problemsOf('config/bad/device-type.json'), [
    { path: '/linux/devices/0/type', message: 'must be one of "c", "b", "u", "p"' },
  ]);
  assert.deepEqual(problemsOf('state/bad/missing-bundle.json', validateStateSchema), [{ path: '/bundle', message: 'is required' }]);
  assert.deepEqual(problemsOf('features/bad/no-version-max.json', validateFeaturesSchema), [
    { path: '/ociVersionMax', message: 'is required' },
  ]);
});

const skipReference = referenceSkipReason();

test('the reference fixtures are all there (19 files)', { skip: skipReference }, () => {
  const fixtures = listOfficialFixtures();
  assert.equal(fixtures.length, 19, `found ${fixtures.map((f) => f.name).join(', ')}`);
});

test('our schemas and the newest official ones give every reference fixture its expected verdict', { skip: skipReference }, () => {
  const official = compileOfficialSchemas('reference');
  for (const fixture of listOfficialFixtures()) {
    const parsed = parseFixture(fixture);
    if (parsed === undefined) continue;
    const check = official[fixture.kind];
    assert.ok(check !== undefined, `no official ${fixture.kind} schema in the reference copy`);
    assert.equal(check(parsed.doc), fixture.expectValid, `official schema on ${fixture.name}`);
    const ourProblems = ours[fixture.kind](parsed.doc);
    assert.deepEqual(ourProblems.length === 0, fixture.expectValid, `our schema on ${fixture.name}: ${JSON.stringify(ourProblems)}`);
  }
});

test('the reference bad config fixtures fail for the reason they were written for', { skip: skipReference }, () => {
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
