// Schema validation with the validators precompiled at build time (scripts/build-schemas.mjs): no schema is
// compiled at run time. ajv's raw errors are turned into one clear Problem per real error.
import type { ErrorObject } from 'ajv';
import {
  validateOciConfig,
  validateOciFeatures,
  validateOciState,
  validateProxrunConfig,
  type CompiledValidator,
} from './generated/validators.js';
import { joinPointer, type Problem } from './problems.js';

/** Plain words for the patterns used in schemas/*.schema.json (a test checks every pattern has an entry). */
export const patternPhrases: ReadonlyMap<string, string> = new Map([
  ['^/', 'must be an absolute path'],
  ['\\S', 'must not be empty'],
  ['^[rwm]*$', 'must be made of the letters r, w and m'],
  ['^CAP_[A-Z_]+$', 'must be a capability name such as CAP_CHOWN'],
  ['^[cbup]$', 'must be one of "c", "b", "u", "p"'],
  ['^[1-9][0-9]*[KMG]B$', 'must be a page size such as 2MB or 1GB'],
  ['^[0-9, -]*$', 'must be a CPU list such as "0-3,7"'],
  ['^MB:[^\\n]*$', 'must be one line starting with "MB:"'],
  ['^https?://[^\\s/]+', 'must be an http:// or https:// URL'],
  ['^[^\\s@!]+@[A-Za-z0-9._-]+![A-Za-z][A-Za-z0-9._-]*$', 'must be an API token id: USER@REALM!TOKENID'],
  ['^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$', 'must be a SHA-256 fingerprint: 32 hex pairs separated by colons'],
]);

/**
 * Plain words for the long enums of schemas/oci-config.schema.json, keyed by their first value (ajv
 * reports an enum by its values only); a test checks every enum of more than 10 values has one.
 */
export const enumPhrases: ReadonlyMap<string, string> = new Map([
  ['CAP_CHOWN', 'must be a capability name of capabilities(7), such as "CAP_CHOWN"'],
  ['RLIMIT_AS', 'must be a resource of setrlimit(2), such as "RLIMIT_NOFILE"'],
  ['SCMP_ARCH_X86', 'must be a libseccomp architecture, such as "SCMP_ARCH_X86_64"'],
]);

const typeNames: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

/** Keywords that only summarise errors already reported for their branches. */
const summaryKeywords = new Set(['anyOf', 'oneOf', 'if']);

function describeTypes(types: unknown): string {
  const list = Array.isArray(types) ? types : String(types).split(',');
  return list.map((t) => typeNames[String(t)] ?? String(t)).join(' or ');
}

function problemFromError(error: ErrorObject): Problem {
  const params: Record<string, unknown> = error.params;
  const at = error.instancePath;
  switch (error.keyword) {
    case 'required':
      return { path: joinPointer(at, String(params.missingProperty)), message: 'is required' };
    case 'additionalProperties':
      return { path: joinPointer(at, String(params.additionalProperty)), message: 'is not a known property' };
    case 'type':
      return { path: at, message: `must be ${describeTypes(params.type)}` };
    case 'enum': {
      const allowed = Array.isArray(params.allowedValues) ? params.allowedValues : [];
      const phrase = enumPhrases.get(String(allowed[0]));
      return { path: at, message: phrase ?? `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}` };
    }
    case 'pattern': {
      const pattern = String(params.pattern);
      return { path: at, message: patternPhrases.get(pattern) ?? `must match the pattern ${pattern}` };
    }
    case 'minimum':
      return { path: at, message: `must be at least ${String(params.limit)}` };
    case 'maximum':
      return { path: at, message: `must be at most ${String(params.limit)}` };
    case 'exclusiveMinimum':
      return { path: at, message: `must be greater than ${String(params.limit)}` };
    case 'exclusiveMaximum':
      return { path: at, message: `must be less than ${String(params.limit)}` };
    case 'minItems':
      return { path: at, message: `must have at least ${String(params.limit)} ${Number(params.limit) === 1 ? 'entry' : 'entries'}` };
    case 'maxItems':
    case 'additionalItems':
      return { path: at, message: `must have at most ${String(params.limit)} ${Number(params.limit) === 1 ? 'entry' : 'entries'}` };
    default:
      return { path: at, message: error.message ?? `fails the "${error.keyword}" rule` };
  }
}

/** Converts ajv errors to problems: summary errors dropped when their branches already explain, duplicates removed. */
export function problemsFromAjvErrors(errors: readonly ErrorObject[]): Problem[] {
  const detailed = errors.filter((e) => !summaryKeywords.has(e.keyword));
  const kept = errors.filter(
    (e) => !summaryKeywords.has(e.keyword) || !detailed.some((d) => d.instancePath.startsWith(e.instancePath)),
  );
  const seen = new Set<string>();
  const problems: Problem[] = [];
  for (const error of kept) {
    const problem = problemFromError(error);
    const key = `${problem.path}\u0000${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}

function run(validator: CompiledValidator, doc: unknown): Problem[] {
  if (validator(doc)) return [];
  return problemsFromAjvErrors(validator.errors ?? []);
}

/** Checks a parsed config.json against schemas/oci-config.schema.json. Empty when it conforms. */
export function validateConfigSchema(doc: unknown): Problem[] {
  return run(validateOciConfig, doc);
}

/** Checks a parsed proxrun configuration file against schemas/proxrun-config.schema.json. Empty when it conforms. */
export function validateProxrunConfigSchema(doc: unknown): Problem[] {
  return run(validateProxrunConfig, doc);
}

/** Checks a state document (what `state` prints) against schemas/oci-state.schema.json. */
export function validateStateSchema(doc: unknown): Problem[] {
  return run(validateOciState, doc);
}

/** Checks a features document (what `features` prints) against schemas/oci-features.schema.json. */
export function validateFeaturesSchema(doc: unknown): Problem[] {
  return run(validateOciFeatures, doc);
}
