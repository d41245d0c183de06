/**
 * One API request from arrival to answer: fault injection, routing (501 for unknown paths), the
 * parameter check (400) against the official schema when its file is there and against the
 * simulator's own rules (own-rules.ts) otherwise, the handler, the wire shape, and the record in
 * requests.jsonl. With the official schema, the own rules' verdict is recorded beside it, so the
 * request audit also proves the own rules accept what proxrun sends.
 */
import { ApiError } from './api-error.js';
import { validateParams, type ApiSchema, type Params } from './api-schema.js';
import { findRoute } from './api-routes.js';
import { takeFault, type FaultRule } from './faults.js';
import { appendRequest, type RequestRecord, type SchemaVerdict } from './request-log.js';
import { Envelope, type Identity, type SimContext } from './sim-context.js';
import { ownMethodSchema } from './own-rules.js';

export interface ApiCall {
  method: string;
  /** Path below `/api2/json`, e.g. `/nodes/pve1/lxc`. */
  path: string;
  params: Params;
  files: Record<string, { path: string; filename: string }>;
  identity: Identity;
  source: 'api' | 'cli';
}

export interface ApiAnswer {
  status: number;
  /** First line of the message, for the HTTP reason phrase. */
  reason: string;
  body: Record<string, unknown>;
}

/** A fault that the transport must carry out (`hang`: never answer, `drop`: close the connection). */
export type TransportFault = 'hang' | 'drop';

export class Dispatcher {
  constructor(
    private readonly ctx: SimContext,
    private readonly schema: ApiSchema | undefined,
    private readonly delay: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  async handle(call: ApiCall): Promise<ApiAnswer | TransportFault> {
    const route = findRoute(call.method, call.path);
    const params: Params = { ...call.params, ...(route?.pathParams ?? {}) };
    // The verdict comes first, so a request an injected fault answers is audited like any other.
    const check = this.verify(call.method, call.path, params);
    const fault: FaultRule | undefined = takeFault(this.ctx.layout.faultsFile, `${call.method} ${call.path}`);
    if (fault?.mode === 'hang' || fault?.mode === 'drop') {
      this.record(call, check, 0);
      return fault.mode;
    }
    if (fault?.mode === 'slow') await this.delay(fault.delayMs ?? 5000);
    if (fault?.mode === 'error') {
      const answer = errorAnswer(new ApiError(500, `${fault.message ?? 'injected failure'}\n`));
      this.record(call, check, answer.status);
      return answer;
    }
    let answer: ApiAnswer;
    if (!route) {
      answer = errorAnswer(new ApiError(501, `Method '${call.method} ${call.path}' not implemented\n`));
    } else if (check.errors) {
      answer = errorAnswer(new ApiError(400, 'Parameter verification failed.\n', check.errors));
    } else {
      try {
        const result = await route.handler({ ctx: this.ctx, identity: call.identity, params, files: call.files });
        answer = result instanceof Envelope
          ? { status: 200, reason: 'OK', body: { data: result.data, ...result.extra } }
          : { status: 200, reason: 'OK', body: { data: result ?? null } };
      } catch (err) {
        answer = errorAnswer(err);
      }
    }
    this.record(call, check, answer.status);
    return answer;
  }

  /**
   * A request's parameters against the official schema, or the simulator's own rules without it;
   * fills path parameters into `params`. `errors` decides the answer; `own` is the own rules'
   * verdict when the official schema decided.
   */
  verify(method: string, path: string, params: Params): ParamCheck {
    const own = ownVerdict(method, path, params);
    if (!this.schema) return { rules: 'own', verdict: own.verdict, errors: own.errors };
    const match = this.schema.match(path, method);
    if (!match?.method) return { rules: 'official', verdict: 'not-in-schema', errors: undefined, own };
    Object.assign(params, match.pathParams);
    const found = validateParams(match.method, params);
    const errors = Object.keys(found).length === 0 ? undefined : found;
    return { rules: 'official', verdict: errors ? 'failed' : 'passed', errors, own };
  }

  /** Appends a request's record to requests.jsonl. */
  record(call: Pick<ApiCall, 'method' | 'path' | 'params' | 'source'> & { identity: Pick<Identity, 'user'> }, check: ParamCheck, status: number): void {
    const record: RequestRecord = {
      time: new Date().toISOString(),
      source: call.source,
      method: call.method,
      path: call.path,
      user: call.identity.user,
      params: call.params,
      rules: check.rules,
      schema: check.verdict,
      ...(check.errors ? { errors: check.errors } : {}),
      ...(check.own ? { own: check.own.verdict, ...(check.own.errors ? { ownErrors: check.own.errors } : {}) } : {}),
      status,
    };
    appendRequest(this.ctx.layout.requestsFile, record);
  }
}

export interface ParamCheck {
  /** Which rules gave `verdict`: the official schema file or the simulator's own. */
  rules: 'official' | 'own';
  verdict: SchemaVerdict;
  errors: Record<string, string> | undefined;
  /** The own rules' verdict beside the official one. */
  own?: { verdict: SchemaVerdict; errors: Record<string, string> | undefined };
}

/** The request against the simulator's own rules (own-rules.ts). */
function ownVerdict(method: string, path: string, params: Params): { verdict: SchemaVerdict; errors: Record<string, string> | undefined } {
  const route = findRoute(method, path);
  const schema = route ? ownMethodSchema(method, route.template) : ownMethodSchema(method, path);
  if (!schema) return { verdict: 'not-in-schema', errors: undefined };
  const found = validateParams(schema, { ...params, ...(route?.pathParams ?? {}) });
  return Object.keys(found).length === 0 ? { verdict: 'passed', errors: undefined } : { verdict: 'failed', errors: found };
}

export function errorAnswer(err: unknown): ApiAnswer {
  if (err instanceof ApiError) {
    const body: Record<string, unknown> = { data: null, message: err.message };
    if (err.errors) body['errors'] = err.errors;
    return { status: err.status, reason: firstLine(err.message), body };
  }
  const message = `${err instanceof Error ? err.message : String(err)}`.replace(/\n*$/, '\n');
  return { status: 500, reason: firstLine(message), body: { data: null, message } };
}

function firstLine(message: string): string {
  // eslint-disable-next-line no-control-regex
  return (message.split('\n')[0] ?? '').replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 512) || 'Error';
}
