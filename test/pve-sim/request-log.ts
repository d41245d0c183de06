/**
 * `DIR/requests.jsonl`: one line per request the simulator receives (API and CLI), with whether its
 * parameters passed the official schema (or, without its file, the simulator's own rules) and, beside
 * the official verdict, the own rules'. Secrets never reach it.
 */
import fs from 'node:fs';

export type SchemaVerdict = 'passed' | 'failed' | 'not-in-schema';

export interface RequestRecord {
  time: string;
  /** `api` for HTTPS, `cli` for the node tools (their API calls and the commands themselves). */
  source: 'api' | 'cli';
  method?: string;
  path?: string;
  /** For CLI commands: the tool and its arguments (secrets masked). */
  command?: string[];
  user?: string;
  params?: Record<string, unknown>;
  /** Which rules gave `schema`: the official schema file, or the simulator's own (own-rules.ts). */
  rules?: 'official' | 'own';
  schema: SchemaVerdict;
  errors?: Record<string, string>;
  /** The own rules' verdict and errors, recorded beside an official verdict. */
  own?: SchemaVerdict;
  ownErrors?: Record<string, string>;
  status?: number;
}

const SECRET_PARAMS = /^(password|new_password|cipassword|secret|token|ticket|tokenSecret|otp|tfa-challenge)$/i;

/** Copies params with secret values masked. */
export function maskSecrets(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) out[k] = SECRET_PARAMS.test(k) ? '*****' : v;
  return out;
}

/** Masks the values following secret options in a CLI argv (`--password X`, `--password=X`). */
export function maskArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  let maskNext = false;
  for (const arg of argv) {
    if (maskNext) {
      out.push('*****');
      maskNext = false;
      continue;
    }
    const m = /^--?([^=]+)(=.*)?$/.exec(arg);
    if (m && SECRET_PARAMS.test(m[1] ?? '')) {
      if (m[2] !== undefined) out.push(`--${m[1]}=*****`);
      else {
        out.push(arg);
        maskNext = true;
      }
      continue;
    }
    out.push(arg);
  }
  return out;
}

export function appendRequest(file: string, record: RequestRecord): void {
  const line = { ...record };
  if (line.params) line.params = maskSecrets(line.params);
  fs.appendFileSync(file, `${JSON.stringify(line)}\n`);
}
