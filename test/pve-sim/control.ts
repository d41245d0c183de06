/**
 * `scripts/pve-sim start|stop|fault`: starts the daemon detached (own session, none of the caller's
 * stdio), waits until it answers, writes sim.json and the node tools; stops it; edits fault rules.
 */
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { newSecrets, type Secrets } from './auth.js';
import { SimLayout, type DaemonSettings, type SimInfo } from './sim-layout.js';
import { netnsName } from './sim-netns.js';
import { FAULT_MODES, readFaults, writeFaults, type FaultMode, type FaultRule } from './faults.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Tools each node's binDir holds. */
export const NODE_TOOLS = ['pct', 'pvesh', 'pvesm', 'qm', 'pveversion'];

function die(msg: string): never {
  process.stderr.write(`pve-sim: ${msg}\n`);
  process.exit(2);
}

function parseOptions(args: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i += 1) {
    const a = args[i] ?? '';
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) die(`unexpected argument '${a}'`);
    const key = m[1] ?? '';
    if (m[2] !== undefined) out[key] = m[2];
    else if (['clear'].includes(key)) out[key] = true;
    else {
      const v = args[i + 1];
      if (v === undefined) die(`option --${key} needs a value`);
      out[key] = v;
      i += 1;
    }
  }
  return out;
}

function repoRoot(): string {
  let dir = here;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) die('cannot find the repository root');
    dir = up;
  }
  return dir;
}

function certFingerprint(certFile: string): string {
  const out = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', certFile]).toString();
  const m = /=([0-9A-F:]+)/i.exec(out);
  if (!m?.[1]) die('cannot read the certificate fingerprint');
  return m[1].toUpperCase();
}

function socketGet(socketPath: string, urlPath: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: urlPath, method }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

function writeTool(binDir: string, tool: string, node: string, layout: SimLayout, cliBundle: string): void {
  const file = path.join(binDir, tool);
  const script = `#!/bin/sh\nPVE_SIM_ROOT='${layout.root}' PVE_SIM_NODE='${node}' PVE_SIM_TOOL='${tool}' exec '${process.execPath}' '${cliBundle}' "$@"\n`;
  fs.writeFileSync(file, script, { mode: 0o755 });
}

async function start(opts: Record<string, string | true>): Promise<void> {
  const rootOpt = opts['root'];
  if (typeof rootOpt !== 'string') die('--root DIR is required');
  const root = path.resolve(rootOpt);
  const nodes = typeof opts['nodes'] === 'string' ? opts['nodes'].split(',').filter(Boolean) : ['pve1'];
  for (const n of nodes) if (!/^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/.test(n)) die(`--nodes: '${n}' is not a valid node name`);
  const port = typeof opts['port'] === 'string' ? Number(opts['port']) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) die(`--port: '${String(opts['port'])}' is not a port number`);
  const layout = new SimLayout(root);
  if (fs.existsSync(layout.pidFile)) die(`a simulator already runs in ${root} (stop it first)`);
  fs.mkdirSync(root, { recursive: true, mode: 0o711 });
  // Unprivileged CTs' mapped root must reach its rootfs below the lxcPath; secrets stay 0600 files.
  fs.chmodSync(root, 0o711);
  const dist = path.join(repoRoot(), 'dist', 'pve-sim');
  const daemonBundle = path.join(dist, 'daemon.mjs');
  const cliBundle = path.join(dist, 'cli.mjs');
  for (const f of [daemonBundle, cliBundle]) if (!fs.existsSync(f)) die(`${f} is missing: run npm run build`);
  if (!fs.existsSync(layout.certFile)) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '365', '-subj', '/CN=pve-sim/OU=PVE Cluster Node', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', layout.keyFile, '-out', layout.certFile], { stdio: 'ignore' });
  }
  const secrets: Secrets = fs.existsSync(layout.secretsFile) ? (JSON.parse(fs.readFileSync(layout.secretsFile, 'utf8')) as Secrets) : newSecrets();
  fs.writeFileSync(layout.secretsFile, JSON.stringify(secrets), { mode: 0o600 });
  const schemaOpt = typeof opts['schema'] === 'string' ? opts['schema'] : process.env['PVE_SIM_SCHEMA'];
  const schemaFile = path.resolve(schemaOpt ?? path.resolve(repoRoot(), '../shared/reference/pve-api/apidata-pve9.1.json'));
  const delayEnv = process.env['PVE_SIM_AUTH_DELAY_MS'];
  const settings: DaemonSettings = {
    nodes,
    port,
    authFailDelayMs: typeof opts['auth-delay-ms'] === 'string' ? Number(opts['auth-delay-ms']) : delayEnv !== undefined ? Number(delayEnv) : 3000,
    netns: netnsName(root),
    ...(fs.existsSync(schemaFile) ? { schemaFile } : {}),
  };
  if (settings.schemaFile) process.stderr.write(`pve-sim: checking every request against the official API schema ${schemaFile}\n`);
  else process.stderr.write(`pve-sim: official API schema ${schemaFile} not found: the simulator's own parameter rules apply\n`);
  fs.writeFileSync(layout.settingsFile, JSON.stringify(settings));
  // Under scripts/run-tests.mjs the namespace the daemon will make is noted first, so that the end
  // of the run can tell it is still there (its name alone does not say whose it is).
  const ledger = process.env['PROXRUN_TEST_LEDGER'];
  if (ledger !== undefined && ledger !== '') fs.appendFileSync(ledger, `netns ${settings.netns}\n`);
  for (const node of nodes) {
    const p = layout.node(node);
    fs.mkdirSync(p.binDir, { recursive: true });
    for (const tool of NODE_TOOLS) writeTool(p.binDir, tool, node, layout, cliBundle);
  }
  fs.rmSync(path.join(root, 'port'), { force: true });
  const out = fs.openSync(layout.logFile, 'a');
  const child = spawn(process.execPath, [daemonBundle, root], { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  fs.closeSync(out);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (fs.existsSync(path.join(root, 'port')) && fs.existsSync(layout.pidFile)) {
      try {
        if ((await socketGet(layout.socketPath, '/api2/json/version')) === 200) break;
      } catch {
        /* not yet */
      }
    }
    if (child.exitCode !== null) die(`the simulator exited at start; see ${layout.logFile}`);
    if (Date.now() > deadline) die(`the simulator did not answer within 20 s; see ${layout.logFile}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const actualPort = fs.readFileSync(path.join(root, 'port'), 'utf8').trim();
  const info: SimInfo = {
    apiUrl: `https://127.0.0.1:${actualPort}/api2/json`,
    fingerprint: certFingerprint(layout.certFile),
    tokenId: secrets.tokenId,
    tokenSecret: secrets.tokenSecret,
    password: secrets.password,
    pveDir: layout.pveDir,
    nodes: Object.fromEntries(nodes.map((n) => [n, { binDir: layout.node(n).binDir, lxcPath: layout.node(n).lxcPath }])),
  };
  fs.writeFileSync(layout.simJson, `${JSON.stringify(info, null, 1)}\n`, { mode: 0o600 });
}

async function stop(opts: Record<string, string | true>): Promise<void> {
  const rootOpt = opts['root'];
  if (typeof rootOpt !== 'string') die('--root DIR is required');
  const layout = new SimLayout(path.resolve(rootOpt));
  if (!fs.existsSync(layout.pidFile)) return;
  const pid = Number(fs.readFileSync(layout.pidFile, 'utf8'));
  try {
    await socketGet(layout.socketPath, '/sim/shutdown', 'POST');
  } catch {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) break;
    if (Date.now() > deadline) die(`the simulator (pid ${pid}) did not stop within 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  fs.rmSync(layout.pidFile, { force: true });
}

function fault(opts: Record<string, string | true>): void {
  const rootOpt = opts['root'];
  if (typeof rootOpt !== 'string') die('--root DIR is required');
  const layout = new SimLayout(path.resolve(rootOpt));
  if (opts['clear'] === true) {
    writeFaults(layout.faultsFile, []);
    return;
  }
  const match = opts['match'];
  if (typeof match !== 'string' || match.trim() === '') die('--match PATTERN is required (e.g. "POST /nodes/*/lxc", "task vzcreate", "cli pct start")');
  const mode = opts['mode'];
  if (typeof mode !== 'string' || !FAULT_MODES.includes(mode as FaultMode)) die(`--mode must be one of ${FAULT_MODES.join(', ')}`);
  const rule: FaultRule = { match, mode: mode as FaultMode };
  if (typeof opts['count'] === 'string') {
    const n = Number(opts['count']);
    if (!Number.isInteger(n) || n < 1) die(`--count: '${opts['count']}' is not a positive integer`);
    rule.count = n;
  }
  if (typeof opts['message'] === 'string') rule.message = opts['message'];
  if (typeof opts['delay-ms'] === 'string') rule.delayMs = Number(opts['delay-ms']);
  writeFaults(layout.faultsFile, [...readFaults(layout.faultsFile), rule]);
}

const [command, ...rest] = process.argv.slice(2);
const options = parseOptions(rest);
if (command === 'start') await start(options);
else if (command === 'stop') await stop(options);
else if (command === 'fault') fault(options);
else die(`unknown command '${command ?? ''}' (start, stop, fault)`);
