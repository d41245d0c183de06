/**
 * `/nodes/{node}/lxc/...`: list, create, read, destroy, config GET/PUT, status and power actions,
 * following pve-container 6.1's API semantics and messages.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Handler, HandlerRequest, SimContext } from './sim-context.js';
import type { PveGuestConfig, SimDirStorage } from './types.js';
import { ApiError, paramError, permissionError, plainError } from './api-error.js';
import { paramBool, paramInt, paramString, configBool } from './param-values.js';
import { foldRuntimeEnv, unfoldRuntimeEnv } from './pve-conf.js';
import { formatMountpoint, formatSizeGiB, parseMountpoint } from './ct-volumes.js';
import { allocRootdirVolume, freeVolume, parseVolumeId, resolveVolumeId } from './volumes.js';
import type { GuestLocation, LoadedGuest } from './config-store.js';
import type { TaskContext } from './tasks.js';

const NUMERIC_KEYS = new Set(['memory', 'swap', 'cores', 'cpuunits', 'cpulimit', 'unprivileged', 'onboot', 'protection', 'template', 'tty', 'console', 'debug']);
/** Options a running CT takes at once; everything else becomes pending until the next start. */
const HOT_KEYS = new Set(['description', 'tags', 'onboot', 'protection', 'startup', 'memory', 'swap', 'cores', 'cpulimit', 'cpuunits', 'hostname', 'nameserver', 'searchdomain', 'lock', 'cmode', 'console', 'tty', 'timezone', 'hookscript']);
const CREATE_ONLY = new Set(['node', 'vmid', 'ostemplate', 'storage', 'password', 'ssh-public-keys', 'start', 'restore', 'force', 'unique', 'ignore-unpack-errors', 'bwlimit', 'pool', 'ha-managed']);

export function ctLocation(req: HandlerRequest): GuestLocation {
  return { node: requireNode(req), kind: 'lxc', vmid: paramInt(req.params, 'vmid') ?? 0 };
}

export function requireNode(req: HandlerRequest): string {
  const node = paramString(req.params, 'node') ?? '';
  if (!req.ctx.nodes.includes(node)) throw plainError(`no such cluster node '${node}'`);
  return node;
}

/** Reads a CT config; the guest must exist on that node as a CT. */
export function loadCt(req: HandlerRequest): LoadedGuest {
  const loc = ctLocation(req);
  return req.ctx.store.read(loc);
}

function storageOf(ctx: SimContext, node: string, id: string): SimDirStorage {
  const s = ctx.storages(node).find((x) => x.id === id);
  if (!s) throw plainError(`storage '${id}' does not exist`);
  return s;
}

function typedValue(key: string, value: string): string | number {
  return NUMERIC_KEYS.has(key) && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
}

/** The config as the API returns it: typed values, `env` folded, raw keys as `lxc` pairs, `digest`. */
export function apiConfig(guest: LoadedGuest, current: boolean): Record<string, unknown> {
  const { config } = guest;
  const props: Record<string, string> = { ...config.props };
  let lxc = config.lxc;
  if (!current && config.pending) {
    Object.assign(props, config.pending.props);
    for (const k of (config.pending.props['delete'] ?? '').split(',').filter(Boolean)) delete props[k];
    delete props['delete'];
    if (config.pending.lxc.length > 0) lxc = [...config.pending.lxc, ...lxc.filter(([k]) => k !== 'lxc.environment.runtime')];
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) out[k] = typedValue(k, v);
  if (config.description !== undefined) out['description'] = `${config.description}\n`;
  const env = foldRuntimeEnv(lxc);
  if (env !== undefined) out['env'] = env;
  const raw = lxc.filter(([k]) => k !== 'lxc.environment.runtime');
  if (raw.length > 0) out['lxc'] = raw.map(([k, v]) => [k, v]);
  out['digest'] = guest.digest;
  return out;
}

/** Root-only parameters: bind/device mounts, dev passthrough, hookscript. */
function checkRootOnly(req: HandlerRequest, phase: 'create' | 'update'): void {
  if (req.identity.isRootPam) return;
  for (const [key, value] of Object.entries(req.params)) {
    if (!/^(rootfs|mp\d+)$/.test(key)) {
      if (/^dev\d+$/.test(key) || key === 'hookscript') {
        throw phase === 'create' ? new ApiError(403, 'Only root can pass arbitrary filesystem paths.\n') : permissionError(`changing ${key} is only allowed for root@pam`);
      }
      continue;
    }
    const spec = parseMountpoint(String(value), 'local');
    if (spec.kind === 'bind' || spec.kind === 'device') {
      throw phase === 'create'
        ? new ApiError(403, 'Only root can pass arbitrary filesystem paths.\n')
        : permissionError(`mount point type ${spec.kind} is only allowed for root@pam`);
    }
  }
}

export const listCts: Handler = async (req) => {
  const node = requireNode(req);
  const out: Array<Record<string, unknown>> = [];
  for (const g of req.ctx.store.all().filter((x) => x.node === node && x.kind === 'lxc')) {
    let guest: LoadedGuest;
    try {
      guest = req.ctx.store.read(g);
    } catch {
      continue;
    }
    out.push(await ctStatusRecord(req.ctx, guest));
  }
  return out;
};

async function ctStatusRecord(ctx: SimContext, guest: LoadedGuest): Promise<Record<string, unknown>> {
  const p = guest.config.props;
  const state = await ctx.runtime.state(ctx.nodePaths(guest.node), guest.vmid);
  const rec: Record<string, unknown> = {
    vmid: guest.vmid,
    status: state.running ? 'running' : 'stopped',
    name: p['hostname'] ?? `CT${guest.vmid}`,
    type: 'lxc',
    maxmem: Number(p['memory'] ?? 512) * 1024 * 1024,
    maxswap: Number(p['swap'] ?? 512) * 1024 * 1024,
    maxdisk: diskBytes(p['rootfs']),
    cpus: Number(p['cores'] ?? 1),
    uptime: 0,
    mem: 0,
    swap: 0,
    disk: 0,
    cpu: 0,
    netin: 0,
    netout: 0,
    diskread: 0,
    diskwrite: 0,
  };
  if (p['tags']) rec['tags'] = p['tags'];
  if (p['lock']) rec['lock'] = p['lock'];
  if (configBool(p['template'])) rec['template'] = 1;
  if (state.running && state.pid !== undefined) rec['pid'] = state.pid;
  return rec;
}

function diskBytes(rootfs: string | undefined): number {
  const m = /(?:^|,)size=(\d+(?:\.\d+)?)([KMGT])?/.exec(rootfs ?? '');
  if (!m) return 0;
  const mult: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
  return Math.round(Number(m[1]) * (mult[m[2] ?? ''] ?? 1));
}

export const ctIndex: Handler = async (req) => {
  loadCt(req);
  return ['config', 'status', 'snapshot', 'firewall', 'rrd', 'rrddata', 'pending', 'interfaces', 'feature', 'template', 'clone', 'resize', 'move_volume', 'migrate', 'vncproxy', 'termproxy', 'spiceproxy', 'remote_migrate'].map((subdir) => ({ subdir }));
};

export const statusIndex: Handler = async (req) => {
  loadCt(req);
  return ['current', 'start', 'stop', 'shutdown', 'reboot', 'suspend', 'resume'].map((subdir) => ({ subdir }));
};

export const ctStatusCurrent: Handler = async (req) => {
  const guest = loadCt(req);
  const rec = await ctStatusRecord(req.ctx, guest);
  rec['ha'] = { managed: 0 };
  return rec;
};

export const getCtConfig: Handler = async (req) => {
  const guest = loadCt(req);
  const snap = paramString(req.params, 'snapshot');
  if (snap !== undefined) {
    const s = guest.config.snapshots?.[snap];
    if (!s) throw plainError(`snapshot '${snap}' does not exist`);
    return apiConfig({ ...guest, config: { props: s.props, lxc: s.lxc, ...(s.description !== undefined ? { description: s.description } : {}) } }, true);
  }
  return apiConfig(guest, paramBool(req.params, 'current') ?? false);
};

/** Allocates `STORAGE:SIZE` mount points; returns the rewritten value. */
async function allocateIfNeeded(ctx: SimContext, node: string, vmid: number, key: string, value: string, unprivileged: boolean, allocated: string[]): Promise<string> {
  const spec = parseMountpoint(value, 'local');
  if (spec.kind !== 'alloc') return value;
  const storage = storageOf(ctx, node, spec.storage ?? 'local');
  if (!storage.content.includes('rootdir')) throw paramError({ [key]: `storage '${storage.id}' does not support container directories` });
  const volid = await allocRootdirVolume(storage, vmid, { sizeGiB: spec.sizeGiB ?? 4, unprivileged });
  allocated.push(volid);
  return formatMountpoint(volid, [...spec.options.filter(([k]) => k !== 'size'), ['size', formatSizeGiB(spec.sizeGiB ?? 4)]]);
}

async function freeVolumes(ctx: SimContext, node: string, volids: string[], log?: (l: string) => void): Promise<void> {
  for (const volid of volids) {
    try {
      const { storage, volname } = parseVolumeId(volid);
      await freeVolume(storageOf(ctx, node, storage), volname);
    } catch (err) {
      log?.(`could not free volume '${volid}': ${(err as Error).message}`);
    }
  }
}

/** Volumes a CT owns (rootfs, volume mount points, unusedN), for destroy. */
function ownedVolumes(config: PveGuestConfig): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(config.props)) {
    if (/^(rootfs|mp\d+)$/.test(k)) {
      const spec = parseMountpoint(v, 'local');
      if (spec.kind === 'volume') out.push(spec.volume);
    } else if (/^unused\d+$/.test(k)) out.push(v);
  }
  return out;
}

export const createCt: Handler = async (req) => {
  const { ctx, params } = req;
  const node = requireNode(req);
  const vmid = paramInt(params, 'vmid') ?? 0;
  checkRootOnly(req, 'create');
  if (paramBool(params, 'restore')) throw plainError('restore is not supported by the simulator');
  const defaultStorage = paramString(params, 'storage') ?? 'local';
  const hasMp = Object.keys(params).some((k) => /^mp\d+$/.test(k));
  if (hasMp && params['rootfs'] === undefined) throw plainError("mount points configured, but 'rootfs' not set - aborting");
  const rootfsValue = paramString(params, 'rootfs') ?? `${defaultStorage}:4`;
  const rootSpec = parseMountpoint(rootfsValue, defaultStorage);
  if (rootSpec.kind === 'alloc') {
    const storage = ctx.storages(node).find((s) => s.id === rootSpec.storage);
    if (!storage) throw plainError(`storage '${rootSpec.storage}' does not exist`);
    if (!storage.content.includes('rootdir')) throw paramError({ storage: `storage '${storage.id}' does not support container directories` });
  }
  const ostemplate = paramString(params, 'ostemplate') ?? '';
  let templatePath: string;
  try {
    templatePath = resolveVolumeId(ctx.storages(node), ostemplate);
  } catch (err) {
    throw plainError((err as Error).message);
  }
  const unprivileged = paramBool(params, 'unprivileged') ?? true;
  const loc: GuestLocation = { node, kind: 'lxc', vmid };
  await ctx.store.claim(loc, { props: { lock: 'create' }, lxc: [] });
  const upid = ctx.tasks.start(node, 'vzcreate', String(vmid), req.identity.user, async (task) => {
    const allocated: string[] = [];
    try {
      await createWorker(req, loc, { templatePath, rootfsValue, defaultStorage, unprivileged, allocated, task });
    } catch (err) {
      await freeVolumes(ctx, node, allocated, task.log);
      ctx.store.remove(loc);
      throw new Error(`unable to create CT ${vmid} - ${(err as Error).message.replace(/\n+$/, '')}`);
    }
    if (paramBool(params, 'start')) await startWorker(ctx, loc, task);
  });
  return upid;
};

interface CreateJob {
  templatePath: string;
  rootfsValue: string;
  defaultStorage: string;
  unprivileged: boolean;
  allocated: string[];
  task: TaskContext;
}

async function createWorker(req: HandlerRequest, loc: GuestLocation, job: CreateJob): Promise<void> {
  const { ctx, params } = req;
  const { task } = job;
  if (!fs.existsSync(job.templatePath)) throw new Error(`volume '${paramString(params, 'ostemplate')}' does not exist`);
  const props: Record<string, string> = {};
  let lxc: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(params)) {
    if (CREATE_ONLY.has(key) || key === 'env' || key === 'description' || key === 'unprivileged') continue;
    props[key] = paramString(params, key) ?? '';
  }
  const rootfs = await allocateIfNeeded(ctx, loc.node, loc.vmid, 'rootfs', job.rootfsValue, job.unprivileged, job.allocated);
  props['rootfs'] = rootfs;
  for (const key of Object.keys(props).filter((k) => /^mp\d+$/.test(k))) {
    props[key] = await allocateIfNeeded(ctx, loc.node, loc.vmid, key, props[key] ?? '', job.unprivileged, job.allocated);
  }
  lxc = unfoldRuntimeEnv(lxc, paramString(params, 'env'));
  const rootVolume = parseMountpoint(rootfs, job.defaultStorage);
  const rootPath = rootVolume.kind === 'bind' ? rootVolume.volume : resolveVolumeId(ctx.storages(loc.node), rootVolume.volume);
  const staging = path.join(ctx.nodePaths(loc.node).lxcPath, String(loc.vmid), 'rootfs');
  fs.mkdirSync(staging, { recursive: true });
  task.log(`extracting archive '${job.templatePath}'`);
  const extracted = await ctx.runtime.withRootfs(rootPath, staging, () =>
    ctx.runtime.extractTemplate(job.templatePath, staging, { vmid: loc.vmid, unprivileged: job.unprivileged, log: task.log, warn: task.warn }),
  );
  if (props['ostype'] === undefined) props['ostype'] = extracted.ostype;
  if (extracted.oci) {
    const m = extracted.oci;
    if (m.entrypoint !== undefined) props['entrypoint'] = m.entrypoint;
    if (m.env !== undefined) lxc = unfoldRuntimeEnv(lxc, m.env);
    for (const pair of m.lxc) lxc.push(pair);
    if (m.customEntrypoint) {
      props['cmode'] = 'console';
      for (const key of Object.keys(props).filter((k) => /^net\d+$/.test(k))) {
        if (!/(?:^|,)host-managed=/.test(props[key] ?? '')) {
          props[key] = `${props[key]},host-managed=1`;
          task.log(`Auto-Enabling host-managed network for network device ${key}.`);
        }
      }
    }
  }
  props['arch'] ??= 'amd64';
  props['hostname'] ??= `CT${loc.vmid}`;
  props['memory'] ??= '512';
  props['swap'] ??= '512';
  if (job.unprivileged) props['unprivileged'] = '1';
  const config: PveGuestConfig = { props, lxc };
  const description = paramString(params, 'description');
  if (description !== undefined) config.description = description.replace(/\n$/, '');
  ctx.store.write(loc, config);
}

export const destroyCt: Handler = async (req) => {
  const { ctx } = req;
  const loc = ctLocation(req);
  const guest = ctx.store.read(loc);
  const force = paramBool(req.params, 'force') ?? false;
  if (configBool(guest.config.props['protection'])) throw plainError(`can't remove CT ${loc.vmid} - protection mode enabled`);
  // pve-container's early checks: a locked CT (a create still at work, or one whose worker died)
  // is refused, and this API has no skiplock; `pct unlock` lifts the lock.
  const lock = guest.config.props['lock'];
  if (lock) throw plainError(`CT is locked (${lock})`);
  const state = await ctx.runtime.state(ctx.nodePaths(loc.node), loc.vmid);
  if (state.running && !force) throw plainError(`unable to destroy CT ${loc.vmid} - container is running`);
  return ctx.tasks.start(loc.node, 'vzdestroy', String(loc.vmid), req.identity.user, async (task) => {
    if ((await ctx.runtime.state(ctx.nodePaths(loc.node), loc.vmid)).running) task.log(`forced to stop CT ${loc.vmid} before destroying!`);
    // Also for a CT that ended by itself: waits for lxc-start to go and unmounts what is left.
    await ctx.runtime.stop(ctx.nodePaths(loc.node), loc.vmid);
    const current = ctx.store.read(loc);
    await freeVolumes(ctx, loc.node, ownedVolumes(current.config), task.log);
    fs.rmSync(path.join(ctx.nodePaths(loc.node).lxcPath, String(loc.vmid)), { recursive: true, force: true });
    ctx.store.remove(loc);
  });
};

export const putCtConfig: Handler = async (req) => {
  const { ctx, params } = req;
  const loc = ctLocation(req);
  checkRootOnly(req, 'update');
  await ctx.store.exclusive(async () => {
    const guest = ctx.store.read(loc);
    const digest = paramString(params, 'digest');
    if (digest !== undefined && digest !== guest.digest) throw plainError('detected modified configuration - file changed by other user? Try again.');
    if (guest.config.props['lock'] && !(paramBool(params, 'skiplock') ?? false)) throw plainError(`CT is locked (${guest.config.props['lock']})`);
    const running = (await ctx.runtime.state(ctx.nodePaths(loc.node), loc.vmid)).running;
    const config = guest.config;
    const unprivileged = configBool(config.props['unprivileged']);
    const deletes = (paramString(params, 'delete') ?? '').split(/[,; ]/).filter(Boolean);
    const errors: Record<string, string> = {};
    for (const key of deletes) {
      if (['rootfs', 'memory', 'ostype'].includes(key)) errors[key] = `unable to delete required option '${key}'`;
      if (key === 'unprivileged') errors[key] = `unable to modify read-only option: 'unprivileged'`;
      if (params[key] !== undefined) errors[key] = `cannot set and delete '${key}' at the same time`;
    }
    if (params['unprivileged'] !== undefined) errors['unprivileged'] = `unable to modify read-only option: 'unprivileged'`;
    if (Object.keys(errors).length > 0) throw paramError(errors);
    const pending = config.pending ?? { props: {}, lxc: [] };
    const target = (key: string): Record<string, string> => (running && !HOT_KEYS.has(key) ? pending.props : config.props);
    for (const key of deletes) {
      if (key === 'env') {
        config.lxc = config.lxc.filter(([k]) => k !== 'lxc.environment.runtime');
      } else if (key === 'description') {
        delete config.description;
      } else if (running && !HOT_KEYS.has(key)) {
        pending.props['delete'] = [...(pending.props['delete'] ?? '').split(',').filter(Boolean), key].join(',');
      } else {
        delete config.props[key];
      }
    }
    const allocated: string[] = [];
    try {
      for (const [key, value] of Object.entries(params)) {
        if (['node', 'vmid', 'delete', 'digest', 'revert', 'skiplock'].includes(key)) continue;
        const text = paramString(params, key) ?? '';
        if (key === 'description') config.description = text.replace(/\n$/, '');
        else if (key === 'env') config.lxc = unfoldRuntimeEnv(config.lxc, text);
        else if (/^mp\d+$/.test(key)) target(key)[key] = await allocateIfNeeded(ctx, loc.node, loc.vmid, key, String(value), unprivileged, allocated);
        else target(key)[key] = text;
      }
    } catch (err) {
      await freeVolumes(ctx, loc.node, allocated);
      throw err;
    }
    const revert = (paramString(params, 'revert') ?? '').split(/[,; ]/).filter(Boolean);
    for (const key of revert) delete pending.props[key];
    if (Object.keys(pending.props).length > 0 || pending.lxc.length > 0) config.pending = pending;
    else delete config.pending;
    ctx.store.write(loc, config);
  });
  return null;
};

/** Applies a `[pve:pending]` section to the main config, as vm_start does first. */
function applyPending(config: PveGuestConfig): void {
  if (!config.pending) return;
  for (const k of (config.pending.props['delete'] ?? '').split(',').filter(Boolean)) delete config.props[k];
  for (const [k, v] of Object.entries(config.pending.props)) if (k !== 'delete') config.props[k] = v;
  delete config.pending;
}

async function startWorker(ctx: SimContext, loc: GuestLocation, task: TaskContext): Promise<void> {
  const guest = ctx.store.read(loc);
  if (guest.config.pending) {
    applyPending(guest.config);
    ctx.store.write(loc, guest.config);
  }
  const config = ctx.store.read(loc).config;
  const node = ctx.nodePaths(loc.node);
  await ctx.runtime.start(
    {
      vmid: loc.vmid,
      node,
      resolveVolume: (volid) => resolveVolumeId(ctx.storages(loc.node), volid),
      log: task.log,
      ...(ctx.netns !== undefined ? { netns: ctx.netns } : {}),
    },
    config,
  );
}

export const startCt: Handler = async (req) => {
  const { ctx } = req;
  const loc = ctLocation(req);
  const guest = ctx.store.read(loc);
  if (configBool(guest.config.props['template'])) throw plainError("you can't start a CT if it's a template");
  const lock = guest.config.props['lock'];
  if (lock && !(paramBool(req.params, 'skiplock') ?? false)) throw plainError(`CT is locked (${lock})`);
  if ((await ctx.runtime.state(ctx.nodePaths(loc.node), loc.vmid)).running) throw plainError(`CT ${loc.vmid} already running`);
  return ctx.tasks.start(loc.node, 'vzstart', String(loc.vmid), req.identity.user, (task) => startWorker(ctx, loc, task));
};

async function requireRunning(req: HandlerRequest): Promise<GuestLocation> {
  const loc = ctLocation(req);
  req.ctx.store.read(loc);
  if (!(await req.ctx.runtime.state(req.ctx.nodePaths(loc.node), loc.vmid)).running) throw plainError(`CT ${loc.vmid} not running`);
  return loc;
}

export const stopCt: Handler = async (req) => {
  const loc = await requireRunning(req);
  return req.ctx.tasks.start(loc.node, 'vzstop', String(loc.vmid), req.identity.user, () => req.ctx.runtime.stop(req.ctx.nodePaths(loc.node), loc.vmid));
};

export const shutdownCt: Handler = async (req) => {
  const loc = await requireRunning(req);
  const timeout = paramInt(req.params, 'timeout') ?? 60;
  const forceStop = paramBool(req.params, 'forceStop') ?? false;
  return req.ctx.tasks.start(loc.node, 'vzshutdown', String(loc.vmid), req.identity.user, () =>
    req.ctx.runtime.shutdown(req.ctx.nodePaths(loc.node), loc.vmid, timeout, forceStop),
  );
};

export const rebootCt: Handler = async (req) => {
  const loc = await requireRunning(req);
  const timeout = paramInt(req.params, 'timeout') ?? 60;
  return req.ctx.tasks.start(loc.node, 'vzreboot', String(loc.vmid), req.identity.user, async (task) => {
    await req.ctx.runtime.shutdown(req.ctx.nodePaths(loc.node), loc.vmid, timeout, true);
    await startWorker(req.ctx, loc, task);
  });
};
