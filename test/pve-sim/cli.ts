/**
 * The node tools (`pct`, `pvesh`, `pvesm`, `qm`, `pveversion`), acting as root@pam on their node
 * through the daemon's unix socket. Which tool runs comes from PVE_SIM_TOOL (set by the binDir
 * wrappers). API-backed verbs print the task log and exit 255 when the task fails.
 */
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { SimLayout } from './sim-layout.js';
import type { FaultRule } from './faults.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface Reply { status: number; body: { data?: Json; message?: string; errors?: Record<string, string> } }

const root = process.env['PVE_SIM_ROOT'] ?? '';
const node = process.env['PVE_SIM_NODE'] ?? 'pve1';
const tool = process.env['PVE_SIM_TOOL'] ?? '';
const layout = new SimLayout(root);

class CliExit extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

function call(method: string, apiPath: string, params: Record<string, string | string[]> = {}): Promise<Reply> {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) form.append(k, x);
  const body = method === 'GET' || method === 'DELETE' ? '' : form.toString();
  const query = body === '' && form.toString() !== '' ? `?${form.toString()}` : '';
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: layout.socketPath, method, path: `/api2/json${apiPath}${query}`, headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Reply['body'] }));
      },
    );
    req.on('error', (err) => reject(new CliExit(255, `unable to reach the simulator at ${layout.socketPath}: ${err.message}`)));
    req.end(body);
  });
}

/** Calls the API and dies like the Perl CLI on an error answer. */
async function api(method: string, apiPath: string, params: Record<string, string | string[]> = {}): Promise<Json> {
  const reply = await call(method, apiPath, params);
  if (reply.status === 200) return reply.body.data ?? null;
  let msg = `${reply.status === 500 ? '' : `${reply.status} `}${(reply.body.message ?? '').replace(/\n$/, '')}`;
  for (const [k, v] of Object.entries(reply.body.errors ?? {})) msg += `\n${k}: ${v.replace(/\n$/, '')}`;
  throw new CliExit(255, msg);
}

/**
 * Follows a task like the CLI's worker in the foreground: prints its log, exits 255 on failure.
 * On a node the tool is the worker, so SIGTERM or SIGINT end the task ("received interrupt"):
 * here the tool stops the task it follows, then exits.
 */
async function followTask(upid: string): Promise<void> {
  const enc = encodeURIComponent(upid);
  const interrupt = (): void => {
    call('DELETE', `/nodes/${node}/tasks/${enc}`, {}).then(
      () => {
        process.stderr.write('received interrupt\n');
        process.exit(255);
      },
      () => process.exit(255),
    );
  };
  process.once('SIGTERM', interrupt);
  process.once('SIGINT', interrupt);
  let printed = 0;
  for (;;) {
    const status = (await api('GET', `/nodes/${node}/tasks/${enc}/status`)) as { status: string; exitstatus?: string };
    const log = (await api('GET', `/nodes/${node}/tasks/${enc}/log`, { start: String(printed), limit: '0' })) as Array<{ n: number; t: string }>;
    for (const line of log) {
      printed = line.n;
      if (!/^TASK (OK|ERROR: |WARNINGS: )/.test(line.t)) process.stdout.write(`${line.t}\n`);
    }
    if (status.status === 'stopped') {
      const exit = status.exitstatus ?? 'unexpected status';
      if (exit === 'OK' || /^WARNINGS: \d+$/.test(exit)) return;
      throw new CliExit(255, exit);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Splits argv into positionals and `--key value` options (repeatable), stopping at `--`. */
function parseArgs(args: string[], flags: readonly string[] = []): { pos: string[]; opts: Record<string, string[]>; rest: string[] } {
  const pos: string[] = [];
  const opts: Record<string, string[]> = {};
  for (let i = 0; i < args.length; i += 1) {
    const a = args[i] ?? '';
    if (a === '--') return { pos, opts, rest: args.slice(i + 1) };
    const m = /^--?([a-zA-Z][\w-]*)(?:=(.*))?$/.exec(a);
    if (!m) {
      pos.push(a);
      continue;
    }
    const key = m[1] ?? '';
    let value = m[2];
    if (value === undefined) {
      const next = args[i + 1];
      if (flags.includes(key) && (next === undefined || !/^(0|1|true|false|yes|no)$/i.test(next))) value = '1';
      else {
        if (next === undefined) throw new CliExit(255, `option '${key}' requires an argument`);
        value = next;
        i += 1;
      }
    }
    (opts[key] ??= []).push(value);
  }
  return { pos, opts, rest: [] };
}

function flatten(opts: Record<string, string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(opts)) out[k] = v.length === 1 ? (v[0] ?? '') : v;
  return out;
}

function need(pos: string[], names: string[], usage: string): string[] {
  if (pos.length < names.length) throw new CliExit(255, `400 not enough arguments\n${usage}`);
  if (pos.length > names.length) throw new CliExit(255, `400 too many arguments\n${usage}`);
  return pos;
}

function printConfig(conf: Record<string, Json>): void {
  const lines: string[] = [];
  for (const key of Object.keys(conf).sort()) {
    if (key === 'digest' || key === 'lxc') continue;
    const v = conf[key];
    if (key === 'description') lines.push(...String(v).replace(/\n$/, '').split('\n').map((l) => `#${l}`));
    else lines.push(`${key}: ${String(v)}`);
  }
  const out = lines.filter((l) => l.startsWith('#')).concat(lines.filter((l) => !l.startsWith('#')));
  for (const pair of (conf['lxc'] as Array<[string, string]> | undefined) ?? []) out.push(`${pair[0]}: ${pair[1]}`);
  process.stdout.write(out.map((l) => `${l}\n`).join(''));
}

const GUEST_VERBS: Record<string, { method: string; path: string; task: boolean }> = {
  start: { method: 'POST', path: 'status/start', task: true },
  stop: { method: 'POST', path: 'status/stop', task: true },
  shutdown: { method: 'POST', path: 'status/shutdown', task: true },
  reboot: { method: 'POST', path: 'status/reboot', task: true },
  destroy: { method: 'DELETE', path: '', task: true },
};

async function pct(args: string[]): Promise<number> {
  const [verb = 'help', ...restArgs] = args;
  const base = (vmid: string): string => `/nodes/${node}/lxc/${vmid}`;
  if (verb === 'exec') {
    const { pos, opts, rest } = parseArgs(restArgs);
    const [vmid] = need(pos, ['vmid'], 'pct exec <vmid> [<extra-args>] [OPTIONS]');
    const st = (await api('GET', `${base(vmid ?? '')}/status/current`)) as { status: string };
    if (st.status !== 'running') throw new CliExit(255, `container '${vmid}' not running!`);
    if (rest.length === 0) throw new CliExit(255, 'missing command');
    const keepEnv = /^(1|true|yes)$/i.test(opts['keep-env']?.[0] ?? '1');
    const env = { ...process.env };
    delete env['SSL_CERT_FILE'];
    delete env['SSL_CERT_DIR'];
    const r = spawnSync('lxc-attach', ['-P', layout.node(node).lxcPath, '-n', vmid ?? '', keepEnv ? '--keep-env' : '--clear-env', '--', ...rest], { stdio: 'inherit', env });
    if (r.error) throw new CliExit(255, `lxc-attach: ${r.error.message}`);
    return r.status ?? 128 + 9;
  }
  const { pos, opts } = parseArgs(restArgs, ['verbose', 'force', 'purge', 'current', 'forceStop', 'skiplock', 'debug', 'start', 'destroy-unreferenced-disks']);
  if (verb === 'push' || verb === 'pull') {
    const [vmid, from, to] = need(pos, ['vmid', verb === 'push' ? 'file' : 'path', 'destination'], `pct ${verb} <vmid> <${verb === 'push' ? 'file' : 'path'}> <destination> [OPTIONS]`);
    await api('GET', `${base(vmid ?? '')}/config`);
    const files = await import('./cli-files.js');
    try {
      if (verb === 'push') {
        const one = (k: string): string | undefined => opts[k]?.[0];
        const o: { user?: string; group?: string; perms?: string } = {};
        for (const k of ['user', 'group', 'perms'] as const) {
          const v = one(k);
          if (v !== undefined) o[k] = v;
        }
        await files.pctPush(layout.node(node), Number(vmid), from ?? '', to ?? '', o);
      } else await files.pctPull(layout.node(node), Number(vmid), from ?? '', to ?? '');
    } catch (err) {
      throw new CliExit(255, (err as Error).message);
    }
    return 0;
  }
  if (verb === 'mount') {
    const [vmid] = need(pos, ['vmid'], 'pct mount <vmid>');
    const conf = (await api('GET', `${base(vmid ?? '')}/config`)) as Record<string, Json>;
    if (conf['lock'] !== undefined) throw new CliExit(255, `CT is locked (${String(conf['lock'])})`);
    const files = await import('./cli-files.js');
    const nodes = layout.readSettings().nodes;
    let dir: string;
    try {
      files.setLock(layout.pveDir, nodes, node, Number(vmid), 'mounted');
      try {
        dir = await files.pctMount(layout.node(node), layout.localStorage(node), Number(vmid), files.configFromApi(conf));
      } catch (err) {
        files.setLock(layout.pveDir, nodes, node, Number(vmid), undefined);
        throw err;
      }
    } catch (err) {
      throw new CliExit(255, (err as Error).message);
    }
    process.stdout.write(`mounted CT ${vmid} in '${dir}'\n`);
    return 0;
  }
  if (verb === 'unmount') {
    const [vmid] = need(pos, ['vmid'], 'pct unmount <vmid>');
    const conf = (await api('GET', `${base(vmid ?? '')}/config`)) as Record<string, Json>;
    const files = await import('./cli-files.js');
    await files.pctUnmount(layout.node(node), Number(vmid));
    if (conf['lock'] === 'mounted') files.setLock(layout.pveDir, layout.readSettings().nodes, node, Number(vmid), undefined);
    return 0;
  }
  if (verb === 'unlock') {
    // CLI only (pct.pm): lifts whatever lock the config holds, as root on the node.
    const [vmid] = need(pos, ['vmid'], 'pct unlock <vmid>');
    await api('GET', `${base(vmid ?? '')}/config`);
    const files = await import('./cli-files.js');
    files.setLock(layout.pveDir, layout.readSettings().nodes, node, Number(vmid), undefined);
    return 0;
  }
  if (verb === 'list') {
    need(pos, [], 'pct list');
    const list = (await api('GET', `/nodes/${node}/lxc`)) as Array<{ vmid: number; status: string; lock?: string; name?: string }>;
    const row = (a: string, b: string, c: string, d: string): string => `${a.padEnd(10)} ${b.padEnd(10)} ${c.padEnd(12)} ${d.padEnd(20)}\n`;
    let out = list.length > 0 ? row('VMID', 'Status', 'Lock', 'Name') : '';
    for (const ct of list.sort((x, y) => x.vmid - y.vmid)) out += row(String(ct.vmid), ct.status, ct.lock ?? '', ct.name ?? '');
    process.stdout.write(out);
    return 0;
  }
  if (verb === 'create') {
    const [vmid, ostemplate] = need(pos, ['vmid', 'ostemplate'], 'pct create <vmid> <ostemplate> [OPTIONS]');
    await followTask(String(await api('POST', `/nodes/${node}/lxc`, { vmid: vmid ?? '', ostemplate: ostemplate ?? '', ...flatten(opts) })));
    return 0;
  }
  if (verb === 'status') {
    const [vmid] = need(pos, ['vmid'], 'pct status <vmid> [OPTIONS]');
    const st = (await api('GET', `${base(vmid ?? '')}/status/current`)) as Record<string, Json>;
    if (/^(1|true|yes)$/i.test(opts['verbose']?.[0] ?? '0')) {
      for (const k of Object.keys(st).sort()) process.stdout.write(`${k}: ${typeof st[k] === 'object' ? JSON.stringify(st[k]) : String(st[k])}\n`);
    } else process.stdout.write(`status: ${String(st['status'])}\n`);
    return 0;
  }
  if (verb === 'config') {
    const [vmid] = need(pos, ['vmid'], 'pct config <vmid> [OPTIONS]');
    printConfig((await api('GET', `${base(vmid ?? '')}/config`, flatten(opts))) as Record<string, Json>);
    return 0;
  }
  if (verb === 'pending') {
    const [vmid] = need(pos, ['vmid'], 'pct pending <vmid>');
    printConfig((await api('GET', `${base(vmid ?? '')}/config`)) as Record<string, Json>);
    return 0;
  }
  if (verb === 'set') {
    const [vmid] = need(pos, ['vmid'], 'pct set <vmid> [OPTIONS]');
    await api('PUT', `${base(vmid ?? '')}/config`, flatten(opts));
    return 0;
  }
  const guestVerb = GUEST_VERBS[verb];
  if (guestVerb) {
    const [vmid] = need(pos, ['vmid'], `pct ${verb} <vmid> [OPTIONS]`);
    const p = guestVerb.path === '' ? base(vmid ?? '') : `${base(vmid ?? '')}/${guestVerb.path}`;
    await followTask(String(await api(guestVerb.method, p, flatten(opts))));
    return 0;
  }
  throw new CliExit(255, `unknown command 'pct ${verb}'`);
}

async function qm(args: string[]): Promise<number> {
  const [verb = 'help', ...restArgs] = args;
  const { pos, opts } = parseArgs(restArgs, ['purge', 'skiplock', 'current', 'verbose', 'forceStop', 'keepActive', 'start', 'overrule-shutdown', 'destroy-unreferenced-disks']);
  const base = (vmid: string): string => `/nodes/${node}/qemu/${vmid}`;
  const vmVerb = verb === 'destroy' ? undefined : GUEST_VERBS[verb];
  if (vmVerb && verb !== 'reboot') {
    const [vmid] = need(pos, ['vmid'], `qm ${verb} <vmid> [OPTIONS]`);
    await followTask(String(await api(vmVerb.method, `${base(vmid ?? '')}/${vmVerb.path}`, flatten(opts))));
    return 0;
  }
  if (verb === 'create') {
    const [vmid] = need(pos, ['vmid'], 'qm create <vmid> [OPTIONS]');
    await followTask(String(await api('POST', `/nodes/${node}/qemu`, { vmid: vmid ?? '', ...flatten(opts) })));
    return 0;
  }
  if (verb === 'config') {
    const [vmid] = need(pos, ['vmid'], 'qm config <vmid> [OPTIONS]');
    printConfig((await api('GET', `${base(vmid ?? '')}/config`, flatten(opts))) as Record<string, Json>);
    return 0;
  }
  if (verb === 'set') {
    const [vmid] = need(pos, ['vmid'], 'qm set <vmid> [OPTIONS]');
    await api('PUT', `${base(vmid ?? '')}/config`, flatten(opts));
    return 0;
  }
  if (verb === 'destroy') {
    const [vmid] = need(pos, ['vmid'], 'qm destroy <vmid> [OPTIONS]');
    await followTask(String(await api('DELETE', base(vmid ?? ''), flatten(opts))));
    return 0;
  }
  if (verb === 'status') {
    const [vmid] = need(pos, ['vmid'], 'qm status <vmid> [OPTIONS]');
    const st = (await api('GET', `${base(vmid ?? '')}/status/current`)) as Record<string, Json>;
    if (/^(1|true|yes)$/i.test(opts['verbose']?.[0] ?? '0')) {
      for (const k of Object.keys(st).sort()) process.stdout.write(`${k}: ${typeof st[k] === 'object' ? JSON.stringify(st[k]) : String(st[k])}\n`);
    } else process.stdout.write(`status: ${String(st['status'])}\n`);
    return 0;
  }
  if (verb === 'list') {
    const list = (await api('GET', `/nodes/${node}/qemu`)) as Array<{ vmid: number; name: string; status: string; maxmem: number; pid?: number }>;
    const row = (a: string, b: string, c: string, d: string, e: string, f: string): string => `${a.padStart(10)} ${b.padEnd(20)} ${c.padEnd(10)} ${d.padStart(10)} ${e.padStart(16)} ${f.padStart(10)}\n`;
    let out = list.length > 0 ? row('VMID', 'NAME', 'STATUS', 'MEM(MB)', 'BOOTDISK(GB)', 'PID') : '';
    for (const vm of list) out += row(String(vm.vmid), vm.name, vm.status, String(vm.maxmem / 1024 ** 2), '0.00', String(vm.pid ?? 0));
    process.stdout.write(out);
    return 0;
  }
  throw new CliExit(255, `unknown command 'qm ${verb}'`);
}

function printFormatted(data: Json, format: string): void {
  if (format === 'json') process.stdout.write(`${JSON.stringify(data)}\n`);
  else if (format === 'json-pretty' || (typeof data === 'object' && data !== null)) process.stdout.write(`${JSON.stringify(data, null, 4)}\n`);
  else if (data !== null) process.stdout.write(`${String(data)}\n`);
}

async function pvesh(args: string[]): Promise<number> {
  const [verb = 'help', ...restArgs] = args;
  const { pos, opts } = parseArgs(restArgs, ['noproxy', 'human-readable', 'noborder', 'noheader']);
  const format = opts['output-format']?.[0] ?? 'text';
  for (const k of ['output-format', 'noproxy', 'human-readable', 'noborder', 'noheader']) delete opts[k];
  const methods: Record<string, string> = { get: 'GET', ls: 'GET', create: 'POST', set: 'PUT', delete: 'DELETE' };
  const method = methods[verb];
  if (!method) throw new CliExit(255, `unknown command 'pvesh ${verb}'`);
  const [apiPath] = need(pos, ['api_path'], `pvesh ${verb} <api_path> [OPTIONS] [FORMAT_OPTIONS]`);
  const p = `/${(apiPath ?? '').replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '');
  const data = await api(method, p, flatten(opts));
  if (typeof data === 'string' && data.startsWith('UPID:') && method !== 'GET') {
    await followTask(data);
    if (format !== 'text') printFormatted(data, format);
    return 0;
  }
  printFormatted(data, format);
  return 0;
}

async function pvesm(args: string[]): Promise<number> {
  const [verb = 'help', ...restArgs] = args;
  const { pos, opts } = parseArgs(restArgs);
  if (verb === 'status') {
    const list = (await api('GET', `/nodes/${node}/storage`, flatten(opts))) as Array<{ storage: string; type: string; total: number; used: number; avail: number; used_fraction: number }>;
    let out = `${'Name'.padEnd(14)} ${'Type'.padEnd(8)} ${'Status'.padEnd(8)} ${'Total'.padStart(14)} ${'Used'.padStart(14)} ${'Available'.padStart(14)} ${'%'.padStart(8)}\n`;
    for (const s of list) out += `${s.storage.padEnd(14)} ${s.type.padEnd(8)} ${'active'.padEnd(8)} ${String(Math.floor(s.total / 1024)).padStart(14)} ${String(Math.floor(s.used / 1024)).padStart(14)} ${String(Math.floor(s.avail / 1024)).padStart(14)} ${(s.used_fraction * 100).toFixed(2).padStart(7)}%\n`;
    process.stdout.write(out);
    return 0;
  }
  if (verb === 'list') {
    const [storage] = need(pos, ['storage'], 'pvesm list <storage> [OPTIONS]');
    const list = (await api('GET', `/nodes/${node}/storage/${storage}/content`, flatten(opts))) as Array<{ volid: string; format: string; content: string; size: number; vmid?: number }>;
    let out = `${'Volid'.padEnd(40)} ${'Format'.padEnd(6)} ${'Type'.padEnd(12)} ${'Size'.padStart(12)} VMID\n`;
    for (const v of list) out += `${v.volid.padEnd(40)} ${v.format.padEnd(6)} ${v.content.padEnd(12)} ${String(v.size).padStart(12)} ${v.vmid ?? ''}\n`;
    process.stdout.write(out);
    return 0;
  }
  if (verb === 'path') {
    const [volume] = need(pos, ['volume'], 'pvesm path <volume>');
    const m = /^([^:]+):(.+)$/.exec(volume ?? '');
    if (!m) throw new CliExit(255, `unable to parse volume ID '${volume}'`);
    if (m[1] !== 'local') throw new CliExit(255, `storage '${m[1]}' does not exist`);
    const { volumePath } = await import('./volumes.js');
    process.stdout.write(`${volumePath(layout.localStorage(node), m[2] ?? '')}\n`);
    return 0;
  }
  if (verb === 'free') {
    const [volume] = need(pos, ['volume'], 'pvesm free <volume> [OPTIONS]');
    const storage = (volume ?? '').split(':')[0] ?? '';
    await followTask(String(await api('DELETE', `/nodes/${node}/storage/${storage}/content/${encodeURIComponent(volume ?? '')}`)));
    return 0;
  }
  throw new CliExit(255, `unknown command 'pvesm ${verb}'`);
}

async function pveversion(): Promise<number> {
  const v = (await api('GET', '/version')) as { version: string; repoid: string };
  process.stdout.write(`pve-manager/${v.version}/${v.repoid} (running kernel: ${spawnSync('uname', ['-r']).stdout.toString().trim()})\n`);
  return 0;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const faultReply = await new Promise<FaultRule | null>((resolve, reject) => {
    const body = new URLSearchParams({ argv: JSON.stringify([tool, ...argv]) }).toString();
    const req = http.request({ socketPath: layout.socketPath, method: 'POST', path: '/sim/cli-command', headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(((JSON.parse(Buffer.concat(chunks).toString()) as { data: FaultRule | null }).data)));
    });
    req.on('error', (err) => reject(new CliExit(255, `unable to reach the simulator at ${layout.socketPath}: ${err.message}`)));
    req.end(body);
  });
  if (faultReply?.mode === 'error') throw new CliExit(255, faultReply.message ?? `injected failure of ${tool} ${argv[0] ?? ''}`);
  if (faultReply?.mode === 'slow') await new Promise((r) => setTimeout(r, faultReply.delayMs ?? 5000));
  if (faultReply?.mode === 'hang') await new Promise(() => setInterval(() => undefined, 1 << 30));
  if (faultReply?.mode === 'drop') process.kill(process.pid, 'SIGKILL');
  switch (tool) {
    case 'pct': return pct(argv);
    case 'qm': return qm(argv);
    case 'pvesh': return pvesh(argv);
    case 'pvesm': return pvesm(argv);
    case 'pveversion': return pveversion();
    default: throw new CliExit(255, `unknown tool '${tool}'`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const code = err instanceof CliExit ? err.code : 255;
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(code);
  },
);
