/**
 * One HTTPS request to the Proxmox API: a verified TLS connection (see tls-trust.ts), the token in
 * the Authorization header only, form-encoded parameters (or a multipart upload), a deadline, the
 * `{"data": …}` envelope unwrapped, and Proxmox's error shapes turned into a one-line ProxmoxError.
 */
import fs from 'node:fs';
import http from 'node:http';
import type tls from 'node:tls';
import { ProxmoxError, type PveParams } from './client.js';
import { connectVerified } from './tls-trust.js';
import { multipartBody, type MultipartFile } from './multipart.js';

export interface ApiEndpoint {
  /** Base URL ending in `/api2/json`. */
  base: URL;
  /** The Authorization header value; never logged, never put into an error. */
  authorization: string;
  trust: { fingerprint?: string; ca?: Buffer };
  timeoutSeconds: number;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface ApiRequest {
  /** Named in errors: `proxmox <step>: …`. */
  step: string;
  method: HttpMethod;
  /** Path below the base, already percent-encoded where needed, e.g. `/nodes/pve1/lxc`. */
  path: string;
  params?: PveParams;
  /** Sends a multipart/form-data body instead of a form (uploads); the timeout then counts idle time. */
  upload?: { fields: Record<string, string>; file: MultipartFile };
}

/** `a=1&b=x`, booleans as 1/0 as Proxmox expects. */
export function encodeParams(params: PveParams): string {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    form.append(key, typeof value === 'boolean' ? (value ? '1' : '0') : String(value));
  }
  return form.toString();
}

interface ErrorBody {
  message?: unknown;
  errors?: unknown;
}

/** One line from Proxmox's error answer: per-parameter errors for 400, else the message or reason phrase. */
export function errorDetail(status: number, reason: string, body: ErrorBody | undefined): string {
  const oneLine = (s: string): string => s.trim().split('\n').map((l) => l.trim()).filter(Boolean).join('; ');
  if (body && typeof body.errors === 'object' && body.errors !== null) {
    const parts = Object.entries(body.errors as Record<string, unknown>).map(([param, msg]) => `${param}: ${oneLine(String(msg))}`);
    if (parts.length > 0) return parts.join('; ');
  }
  if (body && typeof body.message === 'string' && body.message.trim() !== '') return oneLine(body.message);
  return oneLine(reason) || `HTTP ${status}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Performs the request; resolves with `data` of a 200 answer. */
export function apiRequest(endpoint: ApiEndpoint, request: ApiRequest): Promise<unknown> {
  const { step } = request;
  const timeoutMs = endpoint.timeoutSeconds * 1000;
  let socket: tls.TLSSocket | undefined;
  let settled = false;
  return new Promise<unknown>((resolve, reject) => {
    const fail = (detail: string, status?: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      reject(new ProxmoxError(step, detail, status));
    };
    const succeed = (value: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(value);
    };
    const onTimeout = (): void => fail(`timed out after ${endpoint.timeoutSeconds} s`);
    let timer = setTimeout(onTimeout, timeoutMs);

    const url = new URL(endpoint.base.href.replace(/\/+$/, '') + request.path);
    const query = request.method === 'GET' || request.method === 'DELETE' ? encodeParams(request.params ?? {}) : '';
    if (query !== '') url.search = query;

    connectVerified(url, endpoint.trust, (s) => {
      socket = s;
    }).then(
      (verified) => {
        if (settled) {
          verified.destroy();
          return;
        }
        const headers: http.OutgoingHttpHeaders = { Authorization: endpoint.authorization, Accept: 'application/json', Host: url.host };
        let body: Buffer | undefined;
        let multipart: ReturnType<typeof multipartBody> | undefined;
        if (request.upload) {
          multipart = multipartBody(request.upload.fields, request.upload.file);
          headers['Content-Type'] = multipart.contentType;
          headers['Content-Length'] = multipart.length;
          // An upload may take long; what must not happen is a stall.
          clearTimeout(timer);
          verified.setTimeout(timeoutMs, onTimeout);
        } else if (request.method === 'POST' || request.method === 'PUT') {
          body = Buffer.from(encodeParams(request.params ?? {}));
          headers['Content-Type'] = 'application/x-www-form-urlencoded';
          headers['Content-Length'] = body.length;
        }
        const req = http.request(
          { method: request.method, path: `${url.pathname}${url.search}`, headers, createConnection: () => verified },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', (err) => fail(`connection failed: ${err.message}`));
            res.on('end', () => {
              const status = res.statusCode ?? 0;
              const parsed = parseJson(Buffer.concat(chunks).toString('utf8'));
              const envelope = typeof parsed === 'object' && parsed !== null ? (parsed as { data?: unknown } & ErrorBody) : undefined;
              if (status === 200) {
                if (!envelope) fail('Proxmox answered 200 without a JSON body', status);
                else succeed(envelope.data ?? null);
              } else fail(errorDetail(status, res.statusMessage ?? '', envelope), status);
            });
          },
        );
        req.on('error', (err) => fail(`connection failed: ${err.message}`));
        if (multipart) {
          multipart.write(req).then(
            () => req.end(),
            (err: unknown) => fail(`reading ${request.upload?.file.path ?? 'the file'}: ${err instanceof Error ? err.message : String(err)}`),
          );
        } else req.end(body);
      },
      (err: unknown) => fail(err instanceof Error ? err.message : String(err)),
    );
  });
}

/** The size of a file to upload, with a clear error when it is missing. */
export function uploadFileSize(step: string, file: string): number {
  try {
    return fs.statSync(file).size;
  } catch (err) {
    throw new ProxmoxError(step, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
