/** `/version`, `/cluster/nextid`, `/cluster/resources`, `/nodes`, `/nodes/{node}/status`, tasks. */
import os from 'node:os';
import { Envelope, type Handler } from './sim-context.js';
import { paramError } from './api-error.js';
import { paramInt, paramString } from './param-values.js';
import { requireNode } from './lxc-api.js';
import { parseUpid } from './tasks.js';

/** The Proxmox VE version the simulator's behaviour follows. */
export const PVE_VERSION = { version: '9.1.2', release: '9.1', repoid: 'pve-sim' };

export const getVersion: Handler = async () => ({ ...PVE_VERSION, console: 'xtermjs' });

export const getNextId: Handler = async (req) => {
  const wanted = paramInt(req.params, 'vmid');
  if (wanted !== undefined) {
    if (req.ctx.store.find(wanted)) throw paramError({ vmid: `VM ${wanted} already exists` });
    return String(wanted);
  }
  return String(req.ctx.store.nextId());
};

export const getResources: Handler = async (req) => {
  const type = paramString(req.params, 'type');
  const out: Array<Record<string, unknown>> = [];
  if (type === undefined || type === 'vm') {
    for (const g of req.ctx.store.all()) {
      let name = '';
      let status = 'stopped';
      try {
        const loaded = req.ctx.store.read(g);
        name = loaded.config.props[g.kind === 'lxc' ? 'hostname' : 'name'] ?? '';
      } catch {
        continue;
      }
      if (g.kind === 'lxc' && (await req.ctx.runtime.state(req.ctx.nodePaths(g.node), g.vmid)).running) status = 'running';
      out.push({ id: `${g.kind}/${g.vmid}`, type: g.kind, vmid: g.vmid, node: g.node, name, status, template: 0 });
    }
  }
  if (type === undefined || type === 'node') {
    for (const node of req.ctx.nodes) out.push({ id: `node/${node}`, type: 'node', node, status: 'online', maxcpu: os.cpus().length, maxmem: os.totalmem() });
  }
  if (type === undefined || type === 'storage') {
    for (const node of req.ctx.nodes) {
      for (const s of req.ctx.storages(node)) {
        out.push({ id: `storage/${node}/${s.id}`, type: 'storage', node, storage: s.id, status: 'available', content: s.content.join(','), plugintype: 'dir', shared: 0 });
      }
    }
  }
  return out;
};

export const listNodes: Handler = async (req) =>
  req.ctx.nodes.map((node) => ({ node, status: 'online', type: 'node', id: `node/${node}`, maxcpu: os.cpus().length, maxmem: os.totalmem(), ssl_fingerprint: '' }));

export const nodeStatus: Handler = async (req) => {
  requireNode(req);
  return {
    pveversion: `pve-manager/${PVE_VERSION.version}/${PVE_VERSION.repoid}`,
    kversion: `${os.type()} ${os.release()}`,
    uptime: Math.floor(os.uptime()),
    cpuinfo: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', sockets: 1 },
    memory: { total: os.totalmem(), free: os.freemem(), used: os.totalmem() - os.freemem() },
    loadavg: os.loadavg().map((l) => l.toFixed(2)),
  };
};

export const nodeIndex: Handler = async (req) => {
  requireNode(req);
  return ['lxc', 'qemu', 'storage', 'tasks', 'status', 'version'].map((name) => ({ name }));
};

export const listTasks: Handler = async (req) => {
  const node = requireNode(req);
  const limit = paramInt(req.params, 'limit') ?? 50;
  const vmid = paramInt(req.params, 'vmid');
  // `source`: archive (default, finished tasks), active (running ones) or all.
  const source = paramString(req.params, 'source') ?? 'archive';
  const tasks = req.ctx.tasks
    .list(node)
    .filter((t) => vmid === undefined || t.id === String(vmid))
    .filter((t) => source === 'all' || (source === 'active') === (t.status === 'running'));
  return tasks.slice(0, limit).map((t) => ({
    ...t,
    ...(t.status === 'stopped' ? { endtime: t.starttime, status: t.exitstatus } : { status: undefined }),
  }));
};

function taskUpid(req: Parameters<Handler>[0]): string {
  requireNode(req);
  const upid = paramString(req.params, 'upid') ?? '';
  if (!parseUpid(upid)) throw paramError({ upid: 'unable to parse worker upid' });
  if (!req.ctx.tasks.exists(upid)) throw paramError({ upid: 'no such task' });
  return upid;
}

export const taskStatus: Handler = async (req) => req.ctx.tasks.status(taskUpid(req));

export const taskLog: Handler = async (req) => {
  const lines = req.ctx.tasks.readLog(taskUpid(req));
  const start = paramInt(req.params, 'start') ?? 0;
  const limit = paramInt(req.params, 'limit') ?? 50;
  const slice = limit === 0 ? lines.slice(start) : lines.slice(start, start + limit);
  return new Envelope(slice.map((t, i) => ({ n: start + i + 1, t })), { total: lines.length });
};

export const stopTask: Handler = async (req) => {
  req.ctx.tasks.stop(taskUpid(req));
  return null;
};
