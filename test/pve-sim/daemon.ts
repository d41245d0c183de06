/**
 * The simulator daemon: HTTPS API on loopback (tokens and tickets), and a unix socket for the node
 * tools (root@pam on the node). Started by `scripts/pve-sim start`; argv: the simulator root.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { SimLayout } from './sim-layout.js';
import { ApiSchema } from './api-schema.js';
import { ConfigStore } from './config-store.js';
import { TaskManager } from './tasks.js';
import { takeFault } from './faults.js';
import { Dispatcher, errorAnswer, type ApiAnswer, type TransportFault } from './api-dispatch.js';
import { authenticate, checkPassword, issueTicket, NODE_ROOT, type Secrets, type Identity } from './auth.js';
import { queryParams, readBody } from './http-body.js';
import { lxcRuntime } from './ct-runtime.js';
import { initDirStorage } from './volumes.js';
import type { SimContext } from './sim-context.js';
import { appendRequest, maskArgv } from './request-log.js';
import { ApiError } from './api-error.js';
import { stopAllContainers, stopMonitords } from './sim-shutdown.js';
import { createSimNetns, removeSimNetns, SIM_BRIDGES } from './sim-netns.js';
import { stopAllVms } from './qemu-runtime.js';

const root = process.argv[2];
if (!root) {
  process.stderr.write('usage: daemon.mjs ROOT\n');
  process.exit(2);
}
const layout = new SimLayout(root);
const settings = layout.readSettings();
const secrets = JSON.parse(fs.readFileSync(layout.secretsFile, 'utf8')) as Secrets;
const schema = settings.schemaFile ? ApiSchema.load(settings.schemaFile) : undefined;
const log = (line: string): void => fs.appendFileSync(layout.logFile, `${new Date().toISOString()} ${line}\n`);
log(schema ? `checking every request against ${settings.schemaFile} (and recording the simulator's own parameter rules' verdict beside it)` : 'official API schema not found: using the simulator\'s own parameter rules');

const store = new ConfigStore(layout.pveDir, settings.nodes);
const tasks = new TaskManager(layout.tasksDir, (type) => {
  const rule = takeFault(layout.faultsFile, `task ${type}`);
  return rule ? { mode: rule.mode, ...(rule.message !== undefined ? { message: rule.message } : {}), ...(rule.delayMs !== undefined ? { delayMs: rule.delayMs } : {}) } : undefined;
});
const ctx: SimContext = {
  layout,
  nodes: settings.nodes,
  store,
  tasks,
  runtime: lxcRuntime,
  storages: (node) => [layout.localStorage(node)],
  nodePaths: (node) => layout.node(node),
};
try {
  await createSimNetns(settings.netns);
  ctx.netns = settings.netns;
  log(`network namespace '${settings.netns}' with bridge ${SIM_BRIDGES.join(', ')}: netN devices are attached there`);
} catch (err) {
  log(`no network namespace of its own (${(err as Error).message}): containers get no network`);
}
for (const node of settings.nodes) {
  const p = layout.node(node);
  for (const dir of [p.lxcPath, p.runDir, p.qemuRunDir]) fs.mkdirSync(dir, { recursive: true });
  await initDirStorage(layout.localStorage(node));
}
const dispatcher = new Dispatcher(ctx, schema);
const hanging = new Set<Socket>();

function send(res: http.ServerResponse, answer: ApiAnswer, extraHeaders: Record<string, string> = {}): void {
  const body = JSON.stringify(answer.body);
  res.writeHead(answer.status, answer.reason, { 'Content-Type': 'application/json;charset=UTF-8', 'Content-Length': Buffer.byteLength(body), ...extraHeaders });
  res.end(body);
}

function carryOut(res: http.ServerResponse, result: ApiAnswer | TransportFault): void {
  if (result === 'drop') {
    res.socket?.destroy();
    return;
  }
  if (result === 'hang') {
    if (res.socket) hanging.add(res.socket);
    return;
  }
  send(res, result);
}

async function apiRequest(req: http.IncomingMessage, res: http.ServerResponse, identity: Identity, source: 'api' | 'cli', url: URL, apiPath: string): Promise<void> {
  const method = req.method ?? 'GET';
  const body = method === 'GET' || method === 'DELETE' ? { params: {}, files: {} } : await readBody(req, `${root}/upload-tmp`);
  const params = { ...queryParams(url.searchParams), ...body.params };
  carryOut(res, await dispatcher.handle({ method, path: apiPath, params, files: body.files, identity, source }));
}

async function ticketRequest(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
  if (req.method === 'GET') {
    send(res, { status: 200, reason: 'OK', body: { data: null } });
    return;
  }
  const { params } = await readBody(req, `${root}/upload-tmp`);
  const all = { ...queryParams(url.searchParams), ...params };
  const username = String(all['username'] ?? '');
  const password = String(all['password'] ?? '');
  const check = dispatcher.verify('POST', '/access/ticket', all);
  const record = (status: number): void =>
    dispatcher.record({ method: 'POST', path: '/access/ticket', params: all, identity: { user: username }, source: 'api' }, check, status);
  if (check.errors) {
    record(400);
    send(res, errorAnswer(new ApiError(400, 'Parameter verification failed.\n', check.errors)));
    return;
  }
  if (!checkPassword(secrets, username, password)) {
    record(401);
    await new Promise((r) => setTimeout(r, settings.authFailDelayMs));
    send(res, { status: 401, reason: 'authentication failure', body: { data: null, message: 'authentication failure\n' } });
    return;
  }
  record(200);
  const { ticket, csrf } = issueTicket(secrets, username);
  send(res, { status: 200, reason: 'OK', body: { data: { ticket, CSRFPreventionToken: csrf, username, cap: {} } } });
}

async function httpsHandler(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://localhost');
  const m = /^\/api2\/json(\/.*?)\/?$/.exec(url.pathname);
  if (!m) {
    send(res, errorAnswer(new ApiError(501, `Method '${req.method} ${url.pathname}' not implemented\n`)));
    return;
  }
  const apiPath = m[1] ?? '/';
  if (apiPath === '/access/ticket') return ticketRequest(req, res, url);
  const method = req.method ?? 'GET';
  const auth = authenticate(
    secrets,
    { authorization: req.headers.authorization, cookie: req.headers.cookie, csrf: req.headers['csrfpreventiontoken'] as string | undefined },
    method !== 'GET' && !apiPath.endsWith('/upload'),
  );
  if (!auth.ok) {
    await new Promise((r) => setTimeout(r, settings.authFailDelayMs));
    send(res, { status: 401, reason: auth.reason, body: { data: null, message: `${auth.reason}\n` } });
    return;
  }
  return apiRequest(req, res, auth.identity, 'api', url, apiPath);
}

async function socketHandler(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/sim/cli-command') {
    const { params } = await readBody(req, `${root}/upload-tmp`);
    const argv = JSON.parse(String(params['argv'] ?? '[]')) as string[];
    appendRequest(layout.requestsFile, { time: new Date().toISOString(), source: 'cli', command: maskArgv(argv), user: NODE_ROOT.user, schema: 'not-in-schema' });
    const rule = takeFault(layout.faultsFile, `cli ${argv.join(' ')}`);
    send(res, { status: 200, reason: 'OK', body: { data: rule ?? null } });
    return;
  }
  if (url.pathname === '/sim/shutdown') {
    send(res, { status: 200, reason: 'OK', body: { data: null } });
    await shutdown();
    return;
  }
  const m = /^\/api2\/json(\/.*?)\/?$/.exec(url.pathname);
  if (!m) {
    send(res, errorAnswer(new ApiError(501, `Method '${req.method} ${url.pathname}' not implemented\n`)));
    return;
  }
  return apiRequest(req, res, NODE_ROOT, 'cli', url, m[1] ?? '/');
}

const guard = (fn: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) => (req: http.IncomingMessage, res: http.ServerResponse): void => {
  fn(req, res).catch((err: unknown) => {
    log(`request failed: ${err instanceof Error ? err.stack : String(err)}`);
    if (!res.headersSent) send(res, errorAnswer(err));
  });
};

const tlsServer = https.createServer({ cert: fs.readFileSync(layout.certFile), key: fs.readFileSync(layout.keyFile) }, guard(httpsHandler));
const unixServer = http.createServer(guard(socketHandler));
fs.rmSync(layout.socketPath, { force: true });

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('stopping: containers first');
  try {
    await stopAllContainers(ctx);
  } catch (err) {
    log(`while stopping containers: ${(err as Error).message}`);
  }
  try {
    await stopAllVms(settings.nodes.map((n) => layout.node(n)), log);
  } catch (err) {
    log(`while stopping VMs: ${(err as Error).message}`);
  }
  try {
    await stopMonitords(ctx);
    await removeSimNetns(settings.netns);
  } catch (err) {
    log(`while cleaning up: ${(err as Error).message}`);
  }
  for (const s of hanging) s.destroy();
  tlsServer.close();
  unixServer.close();
  tlsServer.closeAllConnections();
  unixServer.closeAllConnections();
  fs.rmSync(layout.socketPath, { force: true });
  fs.rmSync(layout.pidFile, { force: true });
  log('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());

await new Promise<void>((resolve) => unixServer.listen(layout.socketPath, resolve));
fs.chmodSync(layout.socketPath, 0o600);
await new Promise<void>((resolve, reject) => {
  tlsServer.once('error', reject);
  tlsServer.listen(settings.port, '127.0.0.1', resolve);
});
const address = tlsServer.address();
const port = typeof address === 'object' && address ? address.port : settings.port;
fs.writeFileSync(`${root}/port`, String(port));
fs.writeFileSync(layout.pidFile, String(process.pid));
log(`listening on https://127.0.0.1:${port} and ${layout.socketPath}`);
