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

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const script = path.join(repoRoot, 'scripts/pve-sim');

export interface HttpReply {
  status: number;
  reason: string;
  json: { data?: unknown; message?: string; errors?: Record<string, string>; total?: number };
}

export class RunningSim {
  constructor(readonly root: string, readonly info: SimInfo) {}

  static async start(nodes = 'pve1'): Promise<RunningSim> {
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts/build-extra.mjs')], { stdio: 'inherit' });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pve-sim-test-'));
    execFileSync(script, ['start', '--root', root, '--nodes', nodes, '--auth-delay-ms', '300'], { stdio: 'inherit' });
    return new RunningSim(root, JSON.parse(fs.readFileSync(path.join(root, 'sim.json'), 'utf8')) as SimInfo);
  }

  stop(): void {
    execFileSync(script, ['stop', '--root', this.root], { stdio: 'inherit' });
    fs.rmSync(this.root, { recursive: true, force: true });
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

  /** Polls a task until it stops (deadline 30 s). */
  async waitTask(node: string, upid: string): Promise<{ exitstatus?: string; status: string }> {
    const deadline = Date.now() + 30_000;
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
