// Reading a bundle's config.json: bytes -> JSON -> schema -> spec rules. The bytes are kept so pass-through
// runtimes can be handed the file unchanged (JSON.parse rounds 64-bit integers).
import fs from 'node:fs';
import path from 'node:path';
import type { Problem } from './problems.js';
import { checkConfigRules } from './rules.js';
import { validateConfigSchema } from './schema-validate.js';
import type { Spec } from './spec.js';

export interface ParsedConfig {
  /** The parsed document when it is a JSON object; not yet checked against the schema or the rules. */
  spec?: Spec;
  problems: Problem[];
}

export interface LoadedBundleConfig {
  /** The file's bytes exactly as read (empty when it could not be read). */
  bytes: Buffer;
  /** Set only when the file parsed and passed the schema and every rule. */
  spec?: Spec;
  problems: Problem[];
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses config.json bytes. Malformed JSON or a non-object document gives one problem at the root. */
export function parseConfigBytes(bytes: Buffer | string): ParsedConfig {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { problems: [{ path: '', message: `invalid JSON: ${reason}` }] };
  }
  if (!isJsonObject(doc)) {
    const got = doc === null ? 'null' : Array.isArray(doc) ? 'an array' : `a ${typeof doc}`;
    return { problems: [{ path: '', message: `must be a JSON object (got ${got})` }] };
  }
  // Only the shape "JSON object" is known here; the schema check that follows establishes the rest.
  return { spec: doc as unknown as Spec, problems: [] };
}

/**
 * Checks an already parsed document: the schema first, then (only when the schema passed) the spec's rules.
 * `spec` is returned only when there are no problems.
 */
export function checkConfigDocument(doc: unknown, opts: { bundleDir?: string } = {}): ParsedConfig {
  const schemaProblems = validateConfigSchema(doc);
  if (schemaProblems.length > 0) return { problems: schemaProblems };
  const spec = doc as Spec;
  const ruleProblems = checkConfigRules(spec, opts);
  return ruleProblems.length > 0 ? { problems: ruleProblems } : { spec, problems: [] };
}

/** Reads `<bundleDir>/config.json`, parses it, and checks it against the schema and then the spec's rules. */
export function loadBundleConfig(bundleDir: string): LoadedBundleConfig {
  const dir = path.resolve(bundleDir);
  const file = path.join(dir, 'config.json');
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : '';
    const message =
      code === 'ENOENT' || code === 'ENOTDIR'
        ? `no such file in bundle ${dir}`
        : `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`;
    return { bytes: Buffer.alloc(0), problems: [{ path: '', message }] };
  }
  const parsed = parseConfigBytes(bytes);
  if (parsed.spec === undefined) return { bytes, problems: parsed.problems };
  const checked = checkConfigDocument(parsed.spec, { bundleDir: dir });
  return checked.spec === undefined ? { bytes, problems: checked.problems } : { bytes, spec: checked.spec, problems: [] };
}
