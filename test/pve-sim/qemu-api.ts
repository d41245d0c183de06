/**
 * `/nodes/{node}/qemu/...`: config create/read/update/destroy (qemu-server 9.1 semantics for what is
 * stored). VMs are not run by the simulator: status is always `stopped`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Handler, HandlerRequest } from './sim-context.js';
import { ApiError, plainError } from './api-error.js';
import { paramBool, paramInt, paramString } from './param-values.js';
import { requireNode } from './lxc-api.js';
import type { GuestLocation } from './config-store.js';
import { resolveVolumeId } from './volumes.js';

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

/** Allocates `STORAGE:SIZE` disks (sparse raw files), copying `import-from` sources. */
function allocateDisk(req: HandlerRequest, loc: GuestLocation, key: string, value: string): string {
  const m = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(?:\.\d+)?)(,.*)?$/i.exec(value);
  if (!m) return value;
  const storage = req.ctx.storages(loc.node).find((s) => s.id === m[1]);
  if (!storage) throw new Error(`storage '${m[1]}' does not exist`);
  if (!storage.content.includes('images')) throw new Error(`storage '${storage.id}' does not support vm images`);
  const rest = (m[3] ?? '').split(',').filter(Boolean);
  const importFrom = rest.find((o) => o.startsWith('import-from='))?.slice('import-from='.length);
  const dir = path.join(storage.path, 'images', String(loc.vmid));
  fs.mkdirSync(dir, { recursive: true });
  let n = 0;
  while (fs.existsSync(path.join(dir, `vm-${loc.vmid}-disk-${n}.raw`))) n += 1;
  const file = path.join(dir, `vm-${loc.vmid}-disk-${n}.raw`);
  if (importFrom !== undefined) {
    const source = importFrom.startsWith('/') ? importFrom : resolveVolumeId(req.ctx.storages(loc.node), importFrom);
    fs.copyFileSync(source, file);
  } else {
    fs.writeFileSync(file, '');
    fs.truncateSync(file, Math.round(Number(m[2]) * 1024 ** 3));
  }
  const size = fs.statSync(file).size;
  const options = rest.filter((o) => !o.startsWith('import-from=') && !o.startsWith('size='));
  return [`${storage.id}:${loc.vmid}/vm-${loc.vmid}-disk-${n}.raw`, ...options, `size=${Math.ceil(size / 1024 ** 2)}M`].join(',');
}

export const listVms: Handler = async (req) => {
  const node = requireNode(req);
  return req.ctx.store
    .all()
    .filter((g) => g.node === node && g.kind === 'qemu')
    .map((g) => {
      const c = req.ctx.store.read(g).config.props;
      return { vmid: g.vmid, status: 'stopped', name: c['name'] ?? `VM ${g.vmid}`, maxmem: Number(c['memory'] ?? 2048) * 1024 ** 2, cpus: Number(c['cores'] ?? 1), uptime: 0 };
    });
};

export const createVm: Handler = async (req) => {
  const loc = vmLocation(req);
  checkRootOnly(req);
  if (paramBool(req.params, 'start')) throw plainError('starting VMs is not supported by the simulator');
  await req.ctx.store.claim(loc, { props: { lock: 'create' }, lxc: [] });
  return req.ctx.tasks.start(loc.node, 'qmcreate', String(loc.vmid), req.identity.user, async () => {
    try {
      const props: Record<string, string> = {};
      let description: string | undefined;
      for (const key of Object.keys(req.params)) {
        if (NOT_STORED.has(key)) continue;
        const value = paramString(req.params, key) ?? '';
        if (key === 'description') description = value.replace(/\n$/, '');
        else props[key] = DISK_KEY.test(key) ? allocateDisk(req, loc, key, value) : value;
      }
      props['smbios1'] ??= `uuid=${crypto.randomUUID()}`;
      props['vmgenid'] ??= crypto.randomUUID();
      req.ctx.store.write(loc, { props, lxc: [], ...(description !== undefined ? { description } : {}) });
    } catch (err) {
      req.ctx.store.remove(loc);
      throw new Error(`unable to create VM ${loc.vmid} - ${(err as Error).message}`);
    }
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
        else config.props[key] = DISK_KEY.test(key) ? allocateDisk(req, loc, key, value) : value;
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

export const destroyVm: Handler = async (req) => {
  const loc = vmLocation(req);
  const guest = req.ctx.store.read(loc);
  if (guest.config.props['protection'] === '1') throw plainError(`can't remove VM ${loc.vmid} - protection mode enabled`);
  return req.ctx.tasks.start(loc.node, 'qmdestroy', String(loc.vmid), req.identity.user, async () => {
    for (const s of req.ctx.storages(loc.node)) fs.rmSync(path.join(s.path, 'images', String(loc.vmid)), { recursive: true, force: true });
    req.ctx.store.remove(loc);
  });
};

export const vmStatusCurrent: Handler = async (req) => {
  const guest = req.ctx.store.read(vmLocation(req));
  return { vmid: guest.vmid, status: 'stopped', name: guest.config.props['name'] ?? `VM ${guest.vmid}`, qmpstatus: 'stopped', uptime: 0, ha: { managed: 0 } };
};
