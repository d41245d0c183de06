/**
 * One API request from arrival to answer: fault injection, routing (501 for unknown paths), the
 * official schema check (400), the handler, the wire shape, and the record in requests.jsonl.
 */
import { ApiError } from './api-error.js';
import { validateParams, type ApiSchema, type Params } from './api-schema.js';
import { findRoute } from './api-routes.js';
import { takeFault, type FaultRule } from './faults.js';
import { appendRequest, type SchemaVerdict } from './request-log.js';
import { Envelope, type Identity, type SimContext } from './sim-context.js';
import { checkNamedFormat } from './named-formats.js';

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
    // The schema verdict comes first, so a request an injected fault answers is audited like any other.
    const { verdict, errors } = this.check(call, params);
    const fault: FaultRule | undefined = takeFault(this.ctx.layout.faultsFile, `${call.method} ${call.path}`);
    if (fault?.mode === 'hang' || fault?.mode === 'drop') {
      this.record(call, verdict, errors, 0);
      return fault.mode;
    }
    if (fault?.mode === 'slow') await this.delay(fault.delayMs ?? 5000);
    if (fault?.mode === 'error') {
      const answer = errorAnswer(new ApiError(500, `${fault.message ?? 'injected failure'}\n`));
      this.record(call, verdict, errors, answer.status);
      return answer;
    }
    let answer: ApiAnswer;
    if (!route) {
      answer = errorAnswer(new ApiError(501, `Method '${call.method} ${call.path}' not implemented\n`));
    } else if (errors) {
      answer = errorAnswer(new ApiError(400, 'Parameter verification failed.\n', errors));
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
    this.record(call, verdict, errors, answer.status);
    return answer;
  }

  /** The request against the official schema (or the simulator's own rules without it); fills path parameters into `params`. */
  private check(call: ApiCall, params: Params): { verdict: SchemaVerdict; errors: Record<string, string> | undefined } {
    if (!this.schema) {
      const own = ownRules(params);
      return { verdict: 'no-schema', errors: Object.keys(own).length === 0 ? undefined : own };
    }
    const match = this.schema.match(call.path, call.method);
    if (!match?.method) return { verdict: 'not-in-schema', errors: undefined };
    Object.assign(params, match.pathParams);
    const found = validateParams(match.method, params);
    return Object.keys(found).length === 0 ? { verdict: 'passed', errors: undefined } : { verdict: 'failed', errors: found };
  }

  private record(call: ApiCall, schema: SchemaVerdict, errors: Record<string, string> | undefined, status: number): void {
    appendRequest(this.ctx.layout.requestsFile, {
      time: new Date().toISOString(),
      source: call.source,
      method: call.method,
      path: call.path,
      user: call.identity.user,
      params: call.params,
      schema,
      ...(errors ? { errors } : {}),
      status,
    });
  }
}

/** The simulator's own rules when the official schema file is missing: ids and names in paths. */
function ownRules(params: Params): Record<string, string> {
  const errors: Record<string, string> = {};
  const checks: Array<[string, string]> = [['vmid', 'pve-vmid'], ['node', 'pve-node'], ['storage', 'pve-storage-id'], ['hostname', 'dns-name']];
  for (const [key, format] of checks) {
    const v = params[key];
    if (v === undefined) continue;
    const err = checkNamedFormat(format, String(v));
    if (err) errors[key] = `invalid format - ${err}`;
  }
  return errors;
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
