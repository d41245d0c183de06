// Differential property test: a generated corpus of configs (seeds plus random mutations of them) must get the
// same valid/invalid verdict from our schema and from the official runtime-spec schema, once the differences our
// schema declares (schema-differences.ts: stricter where config.md or the kernel says MUST, looser where the
// official schema is informative) are undone. Our precompiled validator must differ only through them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { compileOfficialSchemas, listOfficialFixtures, repoRoot } from './fixtures/oci/official-schema.js';
import { validateConfigSchema } from '../../src/oci/schema-validate.js';
import { compileRelaxedOurSchema, declaredDifferences, readOurConfigSchema, SCHEMA_DIFFERENCES } from './fixtures/oci/schema-differences.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Segment = string | number;

function readJson(file: string): Json {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
}

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Seeds: the official good config fixtures (read from the reference copy) and our own platform seeds. */
function loadSeeds(): Json[] {
  const official = listOfficialFixtures()
    .filter((f) => f.kind === 'config' && f.expectValid)
    .map((f) => JSON.parse(f.text) as Json);
  const ours = readJson(path.join(repoRoot, 'test/unit/fixtures/oci/differential-seeds.json'));
  assert.ok(isObject(ours) && Array.isArray(ours.seeds), 'differential-seeds.json must hold a "seeds" array');
  return [...official, ...ours.seeds];
}

/** Values worth trying: enum members, property names and patterns of our schema, boundaries of the integer types. */
function collectSchemaVocabulary(schema: Json): { strings: string[]; keys: string[] } {
  const strings = new Set<string>();
  const keys = new Set<string>();
  const walk = (node: Json): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!isObject(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'enum' && Array.isArray(value)) value.forEach((v) => typeof v === 'string' && strings.add(v));
      if ((key === 'properties' || key === 'definitions') && isObject(value)) Object.keys(value).forEach((k) => keys.add(k));
      walk(value);
    }
  };
  walk(schema);
  return { strings: [...strings], keys: [...keys].filter((k) => !/^[A-Z]/.test(k)) };
}

const boundaryNumbers: number[] = [
  0, -1, 1, 1.5, -0.5, 100, 127, 128, 255, 256, 511, 512, 65535, 65536, 2147483647, 2147483648, -2147483648,
  -2147483649, 4294967295, 4294967296, 2 ** 53, 2 ** 63, -(2 ** 63), 2 ** 64, 2 ** 65, -(2 ** 64),
];
const patternishStrings: string[] = [
  '', 'x', 'RLIMIT_NOFILE', 'RLIMIT_nofile', 'RLIMIT_', 'c', 'b', 'u', 'p', 'cb', 'C', '2MB', '64kB', '1GB', '0MB',
  '0-3,7', '0-3;7', 'MB:0=70', 'MB:0=70\nL3:0=f', 'mb:0', '/abs', 'rel', 'CAP_KILL', '1.0.0', 'banana',
];

interface Mutation {
  kind: 'replace' | 'delete' | 'add' | 'wrap';
  pick: number;
  key: string;
  value: Json;
}

/** Every location inside a document, as a list of segments from the root (the root itself excluded). */
function locations(doc: Json, prefix: Segment[] = []): Segment[][] {
  const found: Segment[][] = [];
  if (Array.isArray(doc)) {
    doc.forEach((item, index) => found.push([...prefix, index], ...locations(item, [...prefix, index])));
  } else if (isObject(doc)) {
    for (const [key, value] of Object.entries(doc)) found.push([...prefix, key], ...locations(value, [...prefix, key]));
  }
  return found;
}

function setOwn(target: { [key: string]: Json }, key: string, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function applyMutation(doc: Json, mutation: Mutation): Json {
  const places = locations(doc);
  if (mutation.kind === 'wrap' || places.length === 0) return mutation.kind === 'wrap' ? [doc] : doc;
  const place = places[mutation.pick % places.length] ?? [];
  const parentPath = place.slice(0, -1);
  const last = place[place.length - 1];
  let parent: Json | undefined = doc;
  for (const segment of parentPath) {
    parent = Array.isArray(parent) ? parent[Number(segment)] : isObject(parent) ? parent[String(segment)] : undefined;
  }
  if (last === undefined || parent === undefined) return doc;
  const current: Json | undefined = Array.isArray(parent) ? parent[Number(last)] : isObject(parent) ? parent[String(last)] : undefined;
  // A copy: the value may be a subtree of a seed, which a later mutation would otherwise change (or make cyclic).
  const value = structuredClone(mutation.value);
  switch (mutation.kind) {
    case 'replace':
      if (Array.isArray(parent)) parent[Number(last)] = value;
      else if (isObject(parent)) setOwn(parent, String(last), value);
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else if (isObject(parent)) delete parent[String(last)];
      break;
    case 'add':
      if (isObject(current)) setOwn(current, mutation.key, value);
      else if (Array.isArray(current)) current.push(value);
      break;
  }
  return doc;
}

test('our schema and the official schema agree on a generated corpus of configs', () => {
  const official = compileOfficialSchemas();
  const seeds = loadSeeds();
  const ourSchema = readJson(path.join(repoRoot, 'schemas/oci-config.schema.json'));
  const vocabulary = collectSchemaVocabulary(ourSchema);
  const subtrees = seeds.flatMap((seed) => locations(seed).map((place) => {
    let node: Json | undefined = seed;
    for (const s of place) node = Array.isArray(node) ? node[Number(s)] : isObject(node) ? node[String(s)] : undefined;
    return node ?? null;
  }));

  const valueArb: fc.Arbitrary<Json> = fc.oneof(
    fc.constantFrom(...boundaryNumbers),
    fc.constantFrom(...vocabulary.strings, ...patternishStrings),
    fc.constantFrom(...subtrees),
    fc.constantFrom<Json>(null, true, false, [], {}, [''], [0], { '': 1 }, { a: 1 }, { a: 'b' }),
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.parse(JSON.stringify(v) ?? 'null') as Json),
  );
  const mutationArb: fc.Arbitrary<Mutation> = fc.record({
    kind: fc.constantFrom<Mutation['kind']>('replace', 'replace', 'replace', 'delete', 'delete', 'add', 'add', 'wrap'),
    pick: fc.nat(),
    key: fc.oneof(fc.constantFrom(...vocabulary.keys), fc.string({ maxLength: 4 })),
    value: valueArb,
  });
  const caseArb = fc.record({
    seed: fc.nat({ max: seeds.length - 1 }),
    mutations: fc.array(mutationArb, { minLength: 0, maxLength: 3 }),
  });

  const relaxed = compileRelaxedOurSchema();
  let valid = 0;
  let invalid = 0;
  fc.assert(
    fc.property(caseArb, ({ seed, mutations }) => {
      let doc = structuredClone(seeds[seed] ?? null);
      for (const mutation of mutations) doc = applyMutation(doc, mutation);
      const officialValid = official.config(doc);
      if (officialValid) valid += 1;
      else invalid += 1;
      if (relaxed(doc) !== officialValid) assert.fail(`disagreement on ${JSON.stringify(doc)}: official ${officialValid}, ours ${JSON.stringify(validateConfigSchema(doc))}`);
    }),
    { numRuns: 1500 },
  );
  // The corpus must exercise both verdicts, or agreement proves little.
  assert.ok(valid >= 100, `only ${valid} valid documents in the corpus`);
  assert.ok(invalid >= 200, `only ${invalid} invalid documents in the corpus`);
});

/** A location with array indexes replaced by `*`: one representative per place in the schema. */
function generalise(place: Segment[]): string {
  return place.map((s) => (typeof s === 'number' ? '*' : s)).join('/');
}

function valueAt(doc: Json, place: Segment[]): Json | undefined {
  let node: Json | undefined = doc;
  for (const s of place) node = Array.isArray(node) ? node[Number(s)] : isObject(node) ? node[String(s)] : undefined;
  return node;
}

test('every distinct location of every seed, set to each boundary value or removed, gets the same verdict', () => {
  const official = compileOfficialSchemas();
  const relaxed = compileRelaxedOurSchema();
  const seeds = loadSeeds();
  const vocabulary = collectSchemaVocabulary(readJson(path.join(repoRoot, 'schemas/oci-config.schema.json')));
  // Every location gets the cross-type probes; numbers get the integer boundaries, strings the enum and pattern probes.
  const anyProbes: Json[] = [0, -1, 1.5, 'x', '', null, true, [], {}];
  const stringProbes: Json[] = [...patternishStrings, ...vocabulary.strings];
  let checked = 0;
  const disagreements: string[] = [];
  seeds.forEach((seed, seedIndex) => {
    const seen = new Set<string>();
    locations(seed).forEach((place, pick) => {
      const general = generalise(place);
      if (seen.has(general)) return;
      seen.add(general);
      const current = valueAt(seed, place);
      const probes = typeof current === 'number' ? [...anyProbes, ...boundaryNumbers]
        : typeof current === 'string' ? [...anyProbes, ...stringProbes] : anyProbes;
      const variants: Mutation[] = [
        { kind: 'delete', pick, key: '', value: null },
        ...probes.map((value): Mutation => ({ kind: 'replace', pick, key: '', value })),
      ];
      for (const mutation of variants) {
        const doc = applyMutation(structuredClone(seed), mutation);
        const officialValid = official.config(doc);
        const oursValid = relaxed(doc);
        checked += 1;
        if (officialValid !== oursValid && disagreements.length < 10) {
          disagreements.push(`seed ${seedIndex} ${general} ${mutation.kind} ${JSON.stringify(mutation.value)}: official ${officialValid}`);
        }
      }
    });
  });
  assert.deepEqual(disagreements, []);
  assert.ok(checked > 5000, `only ${checked} documents checked`);
});

test('the differences from the official schema are exactly the ones our schema declares, and only they separate the verdicts', () => {
  const declared = declaredDifferences(readOurConfigSchema()).map((d) => `${d.kind} ${d.pointer}`).sort();
  assert.deepEqual(declared, SCHEMA_DIFFERENCES.map((d) => `${d.kind} ${d.pointer}`).sort());
  // Our real validator against the relaxed one on every seed: they agree where no difference is involved.
  const relaxed = compileRelaxedOurSchema();
  for (const seed of loadSeeds()) assert.equal(validateConfigSchema(seed).length === 0, relaxed(seed), JSON.stringify(seed));
});
