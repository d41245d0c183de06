/**
 * `/nodes/{node}/qemu/...`: config create/read/update/destroy (qemu-server 9.1 semantics for what is
 * stored), and running VMs with real QEMU through qemu-runtime.ts: start, stop, shutdown, status.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Handler, HandlerRequest } from './sim-context.js';
import { ApiError, paramError, plainError } from './api-error.js';
import { paramBool, paramInt, paramString } from './param-values.js';
import { requireNode } from './lxc-api.js';
import type { GuestLocation } from './config-store.js';
import { resolveVolumeId } from './volumes.js';
import { allocateVmDisk } from './qemu-disks.js';
import { startVm as runVm, stopVm as endVm, vmQmpStatus, vmState, cleanupVmRun } from './qemu-runtime.js';
import type { TaskContext } from './tasks.js';
import { resolveDirMapping } from './qemu-dir-mappings.js';
import type { SimContext } from './sim-context.js';

const DISK_KEY = /^(scsi|virtio|ide|sata|efidisk|tpmstate)\d+$/;
const NOT_STORED = new Set(['node', 'vmid', 'start', 'archive', 'force', 'unique', 'pool', 'storage', 'bwlimit', 'live-restore', 'import-working-storage', 'digest', 'delete', 'revert', 'skiplock', 'background_delay']);

function vmLocation(req: HandlerRequest): GuestLocation {
  return { node: requireNode(req), kind: 'qemu', vmid: paramInt(req.params, 'vmid') ?? 0 };
}

function checkRootOnly(req: HandlerRequest): void {
  if (req.identity.isRootPam) return;
  if (req.params['args'] !== undefined) throw new ApiError(403, "only root can set 'args' config\n");
  for (const [key, value] of Object.entries(req.params)) {
    if (!DISK_KEY.test(key)) continue;
    const importFrom = /(?:^|,)import-from=([^,]+)/.exec(String(value))?.[1];
    if (importFrom?.startsWith('/') || String(value).split(',')[0]?.startsWith('/')) {
      throw new ApiError(403, 'Only root can pass arbitrary filesystem paths.\n');
    }
  }
}

/** Memory in MiB from `memory: [current=]N` (default 512). */
function memoryMiB(props: Record<string, string>): number {
  const m = /(?:^|,)(?:current=)?(\d+)(?:,|$)/.exec(props['memory'] ?? '');
  return m ? Number(m[1]) : 512;
}

/** Seconds the process has been running (from /proc/PID/stat and /proc/uptime). */
function uptimeOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? 0);
    const up = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0] ?? 0);
    return Math.max(0, Math.floor(up - ticks / 100));
  } catch {
    return 0;
  }
}

function vmSummary(ctx: SimContext, loc: GuestLocation, props: Record<string, string>): Record<string, unknown> {
  const state = vmState(ctx.nodePaths(loc.node), loc.vmid);
  const cpus = Number(props['sockets'] ?? 1) * Number(props['cores'] ?? 1);
  const out: Record<string, unknown> = { vmid: loc.vmid, status: state.running ? 'running' : 'stopped', name: props['name'] ?? `VM ${loc.vmid}`, maxmem: memoryMiB(props) * 1024 ** 2, cpus, uptime: state.pid !== undefined ? uptimeOf(state.pid) : 0 };
  if (state.pid !== undefined) out['pid'] = state.pid;
  if (props['lock'] !== undefined) out['lock'] = props['lock'];
  return out;
}

export const listVms: Handler = async (req) => {
  const node = requireNode(req);
  return req.ctx.store
    .all()
    .filter((g) => g.node === node && g.kind === 'qemu')
    .map((g) => vmSummary(req.ctx, g, req.ctx.store.read(g).config.props));
};

export const createVm: Handler = async (req) => {
  const loc = vmLocation(req);
  checkRootOnly(req);
  await req.ctx.store.claim(loc, { props: { lock: 'create' }, lxc: [] });
  return req.ctx.tasks.start(loc.node, 'qmcreate', String(loc.vmid), req.identity.user, async (task) => {
    try {
      const props: Record<string, string> = {};
      let description: string | undefined;
      for (const key of Object.keys(req.params)) {
        if (NOT_STORED.has(key)) continue;
        const value = paramString(req.params, key) ?? '';
        if (key === 'description') description = value.replace(/\n$/, '');
        else props[key] = DISK_KEY.test(key) ? allocateVmDisk(req.ctx.storages(loc.node), loc.vmid, value, task.log) : value;
      }
      props['smbios1'] ??= `uuid=${crypto.randomUUID()}`;
      props['vmgenid'] ??= crypto.randomUUID();
      req.ctx.store.write(loc, { props, lxc: [], ...(description !== undefined ? { description } : {}) });
    } catch (err) {
      req.ctx.store.remove(loc);
      throw new Error(`unable to create VM ${loc.vmid} - ${(err as Error).message}`);
    }
    if (paramBool(req.params, 'start')) await startWorker(req.ctx, loc, task);
  });
};

export const getVmConfig: Handler = async (req) => {
  const guest = req.ctx.store.read(vmLocation(req));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(guest.config.props)) out[k] = /^(memory|cores|sockets|balloon|onboot|protection|template)$/.test(k) && /^\d+$/.test(v) ? Number(v) : v;
  if (guest.config.description !== undefined) out['description'] = `${guest.config.description}\n`;
  out['digest'] = guest.digest;
  return out;
};

export const updateVmConfig = (asTask: boolean): Handler => async (req) => {
  const loc = vmLocation(req);
  checkRootOnly(req);
  const apply = async (): Promise<void> => {
    await req.ctx.store.exclusive(() => {
      const guest = req.ctx.store.read(loc);
      const digest = paramString(req.params, 'digest');
      if (digest !== undefined && digest !== guest.digest) throw plainError('detected modified configuration - file changed by other user? Try again.');
      const config = guest.config;
      for (const key of (paramString(req.params, 'delete') ?? '').split(/[,; ]/).filter(Boolean)) {
        if (key === 'description') delete config.description;
        else delete config.props[key];
      }
      for (const key of Object.keys(req.params)) {
        if (NOT_STORED.has(key)) continue;
        const value = paramString(req.params, key) ?? '';
        if (key === 'description') config.description = value.replace(/\n$/, '');
        else config.props[key] = DISK_KEY.test(key) ? allocateVmDisk(req.ctx.storages(loc.node), loc.vmid, value) : value;
      }
      req.ctx.store.write(loc, config);
    });
  };
  if (!asTask) {
    await apply();
    return null;
  }
  return req.ctx.tasks.start(loc.node, 'qmconfig', String(loc.vmid), req.identity.user, apply);
};

/** `skiplock` is root@pam's alone (qemu-server: "Only root may use this option."). */
function skiplockOf(req: HandlerRequest): boolean {
  const skiplock = paramBool(req.params, 'skiplock') ?? false;
  if (skiplock && !req.identity.isRootPam) throw paramError({ skiplock: 'Only root may use this option.' });
  return skiplock;
}

/** qemu-server's check_lock in the worker: a locked VM is refused unless `skiplock`. */
function checkVmLock(ctx: SimContext, loc: GuestLocation, skiplock: boolean): void {
  const lock = ctx.store.read(loc).config.props['lock'];
  if (lock !== undefined && !skiplock) throw new Error(`VM is locked (${lock})`);
}

export const destroyVm: Handler = async (req) => {
  const loc = vmLocation(req);
  const guest = req.ctx.store.read(loc);
  if (guest.config.props['protection'] === '1') throw plainError(`can't remove VM ${loc.vmid} - protection mode enabled`);
  const skiplock = skiplockOf(req);
  const node = req.ctx.nodePaths(loc.node);
  if (vmState(node, loc.vmid).running) throw plainError(`VM ${loc.vmid} is running - destroy failed`);
  return req.ctx.tasks.start(loc.node, 'qmdestroy', String(loc.vmid), req.identity.user, async (task) => {
    checkVmLock(req.ctx, loc, skiplock);
    if (vmState(node, loc.vmid).running) throw new Error(`VM ${loc.vmid} is running - destroy failed`);
    for (const s of req.ctx.storages(loc.node)) {
      const dir = path.join(s.path, 'images', String(loc.vmid));
      if (!fs.existsSync(dir)) continue;
      for (const f of fs.readdirSync(dir)) task.log(`Removing image: 100% complete...done. (${s.id}:${loc.vmid}/${f})`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    cleanupVmRun(node, loc.vmid);
    req.ctx.store.remove(loc);
    if (paramBool(req.params, 'purge')) task.log(`purging VM ${loc.vmid} from related configurations..`);
  });
};

export const vmIndex: Handler = async (req) => {
  req.ctx.store.read(vmLocation(req));
  return ['config', 'pending', 'status', 'unlink', 'vncproxy', 'termproxy', 'migrate', 'resize', 'move', 'rrd', 'rrddata', 'monitor', 'agent', 'snapshot', 'spiceproxy', 'sendkey', 'firewall', 'mtunnel', 'remote_migrate'].map((subdir) => ({ subdir }));
};

export const vmStatusIndex: Handler = async (req) => {
  req.ctx.store.read(vmLocation(req));
  return ['current', 'start', 'stop', 'reset', 'shutdown', 'suspend', 'reboot'].map((subdir) => ({ subdir }));
};

export const vmStatusCurrent: Handler = async (req) => {
  const loc = vmLocation(req);
  const guest = req.ctx.store.read(loc);
  const out = vmSummary(req.ctx, loc, guest.config.props);
  out['qmpstatus'] = await vmQmpStatus(req.ctx.nodePaths(loc.node), loc.vmid);
  out['ha'] = { managed: 0 };
  if (/^(1|enabled=1)/.test(guest.config.props['agent'] ?? '')) out['agent'] = 1;
  return out;
};

async function startWorker(ctx: SimContext, loc: GuestLocation, task: TaskContext): Promise<void> {
  const config = ctx.store.read(loc).config;
  const node = ctx.nodePaths(loc.node);
  await runVm({
    node, vmid: loc.vmid, props: config.props, log: task.log,
    resolveVolume: (volid) => resolveVolumeId(ctx.storages(loc.node), volid),
    resolveDirMapping: (id) => resolveDirMapping(ctx.store.pveDir, id, loc.node),
  });
}

export const startVm: Handler = async (req) => {
  const loc = vmLocation(req);
  const guest = req.ctx.store.read(loc);
  if (guest.config.props['template'] === '1') throw plainError("you can't start a vm if it's a template");
  const lock = guest.config.props['lock'];
  if (lock !== undefined && !(paramBool(req.params, 'skiplock') ?? false)) throw plainError(`VM is locked (${lock})`);
  if (vmState(req.ctx.nodePaths(loc.node), loc.vmid).running) throw plainError(`VM ${loc.vmid} already running`);
  return req.ctx.tasks.start(loc.node, 'qmstart', String(loc.vmid), req.identity.user, (task) => startWorker(req.ctx, loc, task));
};

export const stopVm: Handler = async (req) => {
  const loc = vmLocation(req);
  req.ctx.store.read(loc);
  const skiplock = skiplockOf(req);
  const timeoutS = paramInt(req.params, 'timeout') ?? 60;
  return req.ctx.tasks.start(loc.node, 'qmstop', String(loc.vmid), req.identity.user, (task) => {
    checkVmLock(req.ctx, loc, skiplock);
    return endVm(req.ctx.nodePaths(loc.node), loc.vmid, { shutdown: false, timeoutS, force: true, log: task.log });
  });
};

export const shutdownVm: Handler = async (req) => {
  const loc = vmLocation(req);
  req.ctx.store.read(loc);
  const timeoutS = paramInt(req.params, 'timeout') ?? 60;
  const force = paramBool(req.params, 'forceStop') ?? false;
  return req.ctx.tasks.start(loc.node, 'qmshutdown', String(loc.vmid), req.identity.user, (task) =>
    endVm(req.ctx.nodePaths(loc.node), loc.vmid, { shutdown: true, timeoutS, force, log: task.log }),
  );
};
