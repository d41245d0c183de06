/** `/nodes/{node}/storage/...`: list, content, volume attributes (with its path), delete volume, upload, oci-registry-pull (pve-storage 9.1). */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { Handler, HandlerRequest } from './sim-context.js';
import type { SimDirStorage } from './types.js';
import { paramError, plainError } from './api-error.js';
import { paramInt, paramString } from './param-values.js';
import { requireNode } from './lxc-api.js';
import { freeVolume, listContent, parseVolname, parseVolumeId, volumePath, type ContentType } from './volumes.js';

const EXTENSIONS: Record<string, RegExp> = {
  vztmpl: /\.(tar(?!\.)|tar\.(gz|xz|zst|bz2))$/,
  iso: /\.(iso|img)$/i,
  import: /\.(raw|qcow2|vmdk|ova)$/,
};
const TARGET_DIR: Record<string, string> = { vztmpl: 'template/cache', iso: 'template/iso', import: 'import' };

function storageParam(req: HandlerRequest): { node: string; storage: SimDirStorage } {
  const node = requireNode(req);
  const id = paramString(req.params, 'storage') ?? '';
  const storage = req.ctx.storages(node).find((s) => s.id === id);
  if (!storage) throw plainError(`storage '${id}' does not exist`);
  return { node, storage };
}

/** `normalize_content_filename`: keep the last path part, replace unusual characters by `_`. */
export function normalizeFilename(name: string): string {
  return name.replace(/^.*\//, '').replace(/[^a-zA-Z0-9_.-]/g, '_');
}

export const listStorages: Handler = async (req) => {
  const node = requireNode(req);
  const content = paramString(req.params, 'content');
  return req.ctx
    .storages(node)
    .filter((s) => content === undefined || content.split(',').every((c) => s.content.includes(c)))
    .map((s) => {
      let total = 0;
      let avail = 0;
      try {
        const st = fs.statfsSync(s.path);
        total = st.blocks * st.bsize;
        avail = st.bavail * st.bsize;
      } catch {
        /* not created yet */
      }
      return { storage: s.id, type: 'dir', content: s.content.join(','), active: 1, enabled: 1, shared: 0, total, avail, used: total - avail, used_fraction: total ? (total - avail) / total : 0 };
    });
};

export const storageIndex: Handler = async (req) => {
  storageParam(req);
  return ['content', 'download-url', 'file-restore', 'import-metadata', 'oci-registry-pull', 'prunebackups', 'rrd', 'rrddata', 'status', 'upload'].map((subdir) => ({ subdir }));
};

export const listStorageContent: Handler = async (req) => {
  const { storage } = storageParam(req);
  const content = paramString(req.params, 'content') as ContentType | undefined;
  const vmid = paramInt(req.params, 'vmid');
  const isContainer = (id: number): boolean => req.ctx.store.find(id)?.kind === 'lxc';
  const opts: Parameters<typeof listContent>[1] = { isContainer };
  if (content !== undefined) opts.content = content;
  if (vmid !== undefined) opts.vmid = vmid;
  return listContent(storage, opts);
};

/**
 * The volume id a content request names: `volume` may be a whole volume id (its storage must be the one
 * in the path) or a volume name on the path's storage (pve-storage's `real_volume_id`).
 */
function realVolumeId(storageId: string, volume: string): { storageId: string; volname: string } {
  if (!volume.includes(':')) return { storageId, volname: volume };
  let parsed: { storage: string; volname: string };
  try {
    parsed = parseVolumeId(volume);
  } catch (err) {
    throw paramError({ volume: (err as Error).message });
  }
  if (parsed.storage !== storageId) throw paramError({ volume: `storage ID mismatch (${parsed.storage} != ${storageId})` });
  return { storageId: parsed.storage, volname: parsed.volname };
}

/**
 * `GET .../content/{volume}`: the volume's attributes, its host path among them (what `pvesm path`
 * prints), so that a client on the node can reach a volume without knowing the storage's layout.
 */
export const volumeInfo: Handler = async (req) => {
  const { storage } = storageParam(req);
  const { volname } = realVolumeId(storage.id, paramString(req.params, 'volume') ?? '');
  const volid = `${storage.id}:${volname}`;
  let file: string;
  let format: string;
  try {
    file = volumePath(storage, volname);
    format = parseVolname(volname).format;
  } catch (err) {
    throw plainError((err as Error).message);
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw plainError(`volume_size_info on '${volid}' failed - no format`);
  }
  // A subvol directory has no size of its own (its quota, which the simulator does not keep).
  const size = st.isDirectory() ? 0 : st.size;
  if (size === 0 && format !== 'subvol') throw plainError(`volume '${volid}' has size zero`);
  return { path: file, size, used: st.isDirectory() ? 0 : st.blocks * 512, format };
};

export const deleteVolume: Handler = async (req) => {
  const { node, storage } = storageParam(req);
  const volume = paramString(req.params, 'volume') ?? '';
  const volname = volume.includes(':') ? parseVolumeId(volume).volname : volume;
  return req.ctx.tasks.start(node, 'imgdel', `${storage.id}:${volname}`.replace(/:/g, '='), req.identity.user, async () => {
    await freeVolume(storage, volname);
  });
};

export const uploadToStorage: Handler = async (req) => {
  const { node, storage } = storageParam(req);
  const content = paramString(req.params, 'content') ?? '';
  const file = req.files['filename'];
  if (!file) throw paramError({ filename: 'property is missing and it is not optional' });
  const name = normalizeFilename(paramString(req.params, 'filename') ?? file.filename);
  if (!storage.content.includes(content)) throw paramError({ content: `storage '${storage.id}' does not support '${content}' content` });
  const ext = EXTENSIONS[content];
  if (!ext || !ext.test(name)) throw paramError({ filename: 'wrong file extension' });
  const dir = path.join(storage.path, TARGET_DIR[content] ?? '');
  const target = path.join(dir, name);
  return req.ctx.tasks.start(node, 'imgcopy', '', req.identity.user, async (task) => {
    fs.mkdirSync(dir, { recursive: true });
    task.log(`starting file import from: ${file.path}`);
    const checksum = paramString(req.params, 'checksum');
    if (checksum !== undefined) {
      const algo = paramString(req.params, 'checksum-algorithm') ?? 'sha256';
      const { createHash } = await import('node:crypto');
      const got = createHash(algo).update(fs.readFileSync(file.path)).digest('hex');
      if (got !== checksum.toLowerCase()) throw new Error(`checksum mismatch: got '${got}' != expect '${checksum.toLowerCase()}'`);
      task.log('calculating checksum...OK, checksum verified');
    }
    task.log(`target node: ${node}`);
    task.log(`target file: ${target}`);
    fs.copyFileSync(file.path, target);
    fs.rmSync(file.path, { force: true });
    task.log(`file size is: ${fs.statSync(target).size}`);
  });
};

export const ociRegistryPull: Handler = async (req) => {
  const { node, storage } = storageParam(req);
  if (!storage.content.includes('vztmpl')) throw plainError(`storage '${storage.id}' does not support 'vztmpl' content`);
  const reference = paramString(req.params, 'reference') ?? '';
  const name = `${normalizeFilename(paramString(req.params, 'filename') ?? reference)}.tar`;
  const target = path.join(storage.path, 'template/cache', name);
  if (!fs.existsSync('/usr/bin/skopeo')) throw plainError("Install 'skopeo' to pull OCI images from registries.");
  if (fs.existsSync(target)) throw plainError(`refusing to override existing file '${target}'`);
  return req.ctx.tasks.start(node, 'ociregistrypull', name, req.identity.user, async (task) => {
    const tmp = `${target}.tmp.${process.pid}`;
    task.log(`pulling ${reference}`);
    const result = await execa('/usr/bin/skopeo', ['copy', `docker://${reference}`, `oci-archive:${tmp}`], { reject: false, timeout: 60_000, all: true });
    if (result.exitCode !== 0) {
      fs.rmSync(tmp, { force: true });
      for (const line of String(result.all ?? '').split('\n').filter(Boolean)) task.log(line);
      throw new Error(`failed to pull OCI image '${reference}': skopeo exited with ${result.exitCode}`);
    }
    fs.renameSync(tmp, target);
  });
};
