/**
 * Test helper: builds the simulator bundles, starts a simulator in a temporary root, talks HTTPS to
 * it with the leaf fingerprint pinned, runs its node tools, and stops it again.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SimInfo } from './sim-layout.js';
import { onTestProcessKilled } from '../helpers/cleanup.js';

export { assertAllRequestsPassedSchema, requestsNotPassingSchema, rulesUsed } from './schema-audit.js';

export interface SimStartOptions {
  nodes?: string;
  /** Schema file to use instead of the official one (a missing path makes the simulator use its own rules). */
  schema?: string;
  /** 401 delay in milliseconds (default 300 for tests). */
  authDelayMs?: number;
}

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The official API schema a simulator uses when it is beside the repository (CI), else its own rules. */
export const OFFICIAL_SCHEMA = path.resolve(repoRoot, '../shared/reference/pve-api/apidata-pve9.1.json');
const script = path.join(repoRoot, 'scripts/pve-sim');

export interface HttpReply {
  status: number;
  reason: string;
  json: { data?: unknown; message?: string; errors?: Record<string, string>; total?: number };
}

export class RunningSim {
  private readonly forget: () => void;

  constructor(readonly root: string, readonly info: SimInfo, readonly startLog = '') {
    this.forget = onTestProcessKilled(`the simulator in ${root}`, () => this.stop());
  }

  static async start(nodesOrOptions: string | SimStartOptions = 'pve1'): Promise<RunningSim> {
    const opts: SimStartOptions = typeof nodesOrOptions === 'string' ? { nodes: nodesOrOptions } : nodesOrOptions;
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts/build-extra.mjs')], { stdio: 'inherit' });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pve-sim-test-'));
    const args = ['start', '--root', root, '--nodes', opts.nodes ?? 'pve1', '--auth-delay-ms', String(opts.authDelayMs ?? 300)];
    if (opts.schema !== undefined) args.push('--schema', opts.schema);
    const r = spawnSync(script, args, { encoding: 'utf8' });
    if (r.status !== 0) {
      spawnSync(script, ['stop', '--root', root], { stdio: 'inherit' });
      fs.rmSync(root, { recursive: true, force: true });
      throw new Error(`pve-sim start failed (${r.status}): ${r.stderr}`);
    }
    return new RunningSim(root, JSON.parse(fs.readFileSync(path.join(root, 'sim.json'), 'utf8')) as SimInfo, r.stderr);
  }

  /** `scripts/pve-sim stop` (throws when it fails), then removes the root. */
  stop(): void {
    this.forget();
    if (!fs.existsSync(this.root)) return;
    try {
      execFileSync(script, ['stop', '--root', this.root], { stdio: 'inherit', timeout: 120_000 });
    } finally {
      fs.rmSync(this.root, { recursive: true, force: true });
    }
  }

  /** `scripts/pve-sim stop` only (the root stays for inspection). */
  stopKeepRoot(): void {
    execFileSync(script, ['stop', '--root', this.root], { stdio: 'inherit' });
  }

  /** `scripts/pve-sim ARGS...` with the result. */
  control(args: string[]): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(script, args, { encoding: 'utf8' });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Uploads `file` to `/nodes/NODE/storage/STORAGE/upload` as multipart/form-data, like the GUI. */
  upload(node: string, storage: string, file: string, content = 'vztmpl', filename = path.basename(file)): Promise<HttpReply> {
    const boundary = `----pvesim${Date.now().toString(16)}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="content"\r\n\r\n${content}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="filename"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const body = Buffer.concat([head, fs.readFileSync(file), tail]);
    return this.raw('POST', `/nodes/${node}/storage/${storage}/upload`, body, { Authorization: this.tokenHeader, 'Content-Type': `multipart/form-data; boundary=${boundary}` });
  }

  /** Sends a prepared body as is. */
  raw(method: string, apiPath: string, body: Buffer, headers: Record<string, string>): Promise<HttpReply> {
    const url = new URL(`${this.info.apiUrl}${apiPath}`);
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, rejectUnauthorized: false, agent: false, headers: { ...headers, 'Content-Length': body.length } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', json: JSON.parse(Buffer.concat(chunks).toString() || '{}') as HttpReply['json'] }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** A task verb over the API: the UPID, then its final status (throws on a non-200 answer). */
  async task(node: string, method: string, apiPath: string, params: Record<string, string> = {}): Promise<{ upid: string; exitstatus?: string }> {
    const r = await this.request(method, apiPath, params);
    if (r.status !== 200) throw new Error(`${method} ${apiPath}: ${r.status} ${r.json.message ?? ''}${r.json.errors ? JSON.stringify(r.json.errors) : ''}`);
    const upid = r.json.data as string;
    const st = await this.waitTask(node, upid);
    return st.exitstatus !== undefined ? { upid, exitstatus: st.exitstatus } : { upid };
  }

  /** The log lines of a task. */
  async taskLog(node: string, upid: string): Promise<string[]> {
    const r = await this.request('GET', `/nodes/${node}/tasks/${encodeURIComponent(upid)}/log`, { limit: '0' });
    return (r.json.data as Array<{ t: string }>).map((l) => l.t);
  }

  get tokenHeader(): string {
    return `PVEAPIToken=${this.info.tokenId}=${this.info.tokenSecret}`;
  }

  request(method: string, apiPath: string, params: Record<string, string> = {}, headers: Record<string, string> = { Authorization: this.tokenHeader }): Promise<HttpReply> {
    const url = new URL(`${this.info.apiUrl}${apiPath}`);
    const form = new URLSearchParams(params).toString();
    if ((method === 'GET' || method === 'DELETE') && form) url.search = form;
    const body = method === 'GET' || method === 'DELETE' ? '' : form;
    return new Promise((resolve, reject) => {
      const req = https.request(url, {
        method,
        rejectUnauthorized: false,
        agent: false,
        headers: { ...headers, 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) },
      }, (res) => {
        const sock = res.socket as import('node:tls').TLSSocket;
        const fp = sock.getPeerCertificate().fingerprint256;
        if (fp !== this.info.fingerprint) reject(new Error(`certificate fingerprint ${fp} is not the pinned ${this.info.fingerprint}`));
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reason: res.statusMessage ?? '', json: JSON.parse(Buffer.concat(chunks).toString() || '{}') as HttpReply['json'] }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Runs a node tool; returns its exit code and output. */
  tool(node: string, name: string, args: string[]): { code: number; stdout: string; stderr: string } {
    const bin = this.info.nodes[node]?.binDir;
    if (!bin) throw new Error(`no node ${node}`);
    const r = spawnSync(path.join(bin, name), args, { encoding: 'utf8' });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Polls a task until it stops (deadline 60 s). */
  async waitTask(node: string, upid: string): Promise<{ exitstatus?: string; status: string }> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await this.request('GET', `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`);
      const st = r.json.data as { status: string; exitstatus?: string };
      if (st.status === 'stopped') return st;
      if (Date.now() > deadline) throw new Error(`task ${upid} still running`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  requests(): Array<Record<string, unknown>> {
    return fs.readFileSync(path.join(this.root, 'requests.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}
