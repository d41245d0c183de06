/** Request bodies as pve-http-server accepts them: form, JSON (512 KiB at most) or multipart uploads. */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import type { ParamValue, Params } from './api-schema.js';
import { ApiError } from './api-error.js';

const MAX_BODY = 512 * 1024;

export interface ParsedBody {
  params: Params;
  files: Record<string, { path: string; filename: string }>;
}

function addParam(params: Params, key: string, value: string): void {
  const prev = params[key];
  if (prev === undefined) params[key] = value;
  else params[key] = [...(Array.isArray(prev) ? prev : [prev]), value] as ParamValue;
}

export function queryParams(search: URLSearchParams): Params {
  const params: Params = {};
  for (const [k, v] of search) addParam(params, k, v);
  return params;
}

export async function readBody(req: IncomingMessage, uploadDir: string): Promise<ParsedBody> {
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) return readMultipart(req, uploadDir);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(501, 'for data too large\n');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const params: Params = {};
  if (text === '') return { params, files: {} };
  if (type.startsWith('application/json')) {
    const json = JSON.parse(text) as Record<string, unknown>;
    for (const [k, v] of Object.entries(json)) {
      if (v === null || v === undefined) continue;
      params[k] = Array.isArray(v) ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : (x as string | number | boolean))) : typeof v === 'object' ? JSON.stringify(v) : (v as string | number | boolean);
    }
    return { params, files: {} };
  }
  for (const [k, v] of new URLSearchParams(text)) addParam(params, k, v);
  return { params, files: {} };
}

function readMultipart(req: IncomingMessage, uploadDir: string): Promise<ParsedBody> {
  fs.mkdirSync(uploadDir, { recursive: true });
  return new Promise((resolve, reject) => {
    const params: Params = {};
    const files: ParsedBody['files'] = {};
    const writes: Array<Promise<void>> = [];
    const bb = busboy({ headers: req.headers });
    bb.on('field', (name, value) => addParam(params, name, value));
    bb.on('file', (name, stream, info) => {
      const target = path.join(uploadDir, `pveupload-${randomBytes(8).toString('hex')}`);
      files[name] = { path: target, filename: info.filename ?? 'upload' };
      // pve-http-server hands the upload's file name to the handler as the parameter itself.
      addParam(params, name, info.filename ?? 'upload');
      writes.push(
        new Promise((res, rej) => {
          const out = fs.createWriteStream(target);
          stream.pipe(out);
          out.on('finish', () => res());
          out.on('error', rej);
        }),
      );
    });
    bb.on('error', reject);
    bb.on('close', () => {
      Promise.all(writes).then(() => resolve({ params, files }), reject);
    });
    req.pipe(bb);
  });
}
