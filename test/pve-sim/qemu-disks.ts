/**
 * New VM disks on a directory storage (`STORAGE:SIZE[,opts]` at create or set): a sparse raw file
 * `images/<vmid>/vm-<vmid>-disk-N.raw`, or with `import-from=<volid|/abs/path>` the source converted to
 * raw with `qemu-img convert` (any format qemu-img detects: raw, qcow2, vmdk, ...).
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { SimDirStorage } from './types.js';
import { resolveVolumeId } from './volumes.js';

/** Source format as `qemu-img info` detects it. */
function imageFormat(source: string): string {
  const out = execFileSync('qemu-img', ['info', '--output=json', source], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return (JSON.parse(out) as { format?: string }).format ?? 'raw';
}

/** Returns the config value of the new disk, or `value` unchanged when it names an existing volume. */
export function allocateVmDisk(storages: readonly SimDirStorage[], vmid: number, value: string, log: (l: string) => void = () => undefined): string {
  const m = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(?:\.\d+)?)(,.*)?$/i.exec(value);
  if (!m) return value;
  const storage = storages.find((s) => s.id === m[1]);
  if (!storage) throw new Error(`storage '${m[1]}' does not exist`);
  if (!storage.content.includes('images')) throw new Error(`storage '${storage.id}' does not support vm images`);
  const rest = (m[3] ?? '').split(',').filter(Boolean);
  const importFrom = rest.find((o) => o.startsWith('import-from='))?.slice('import-from='.length);
  const dir = path.join(storage.path, 'images', String(vmid));
  fs.mkdirSync(dir, { recursive: true });
  let n = 0;
  while (fs.existsSync(path.join(dir, `vm-${vmid}-disk-${n}.raw`))) n += 1;
  const file = path.join(dir, `vm-${vmid}-disk-${n}.raw`);
  const volid = `${storage.id}:${vmid}/vm-${vmid}-disk-${n}.raw`;
  if (importFrom !== undefined) {
    const source = importFrom.startsWith('/') ? importFrom : resolveVolumeId(storages, importFrom);
    if (!fs.existsSync(source)) throw new Error(`import-from source '${importFrom}' does not exist`);
    const format = imageFormat(source);
    log(`importing disk '${importFrom}' (${format}) to '${volid}'`);
    try {
      execFileSync('qemu-img', ['convert', '-f', format, '-O', 'raw', source, file], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      fs.rmSync(file, { force: true });
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
      throw new Error(`copy failed: ${stderr || (err as Error).message}`);
    }
  } else {
    fs.writeFileSync(file, '');
    fs.truncateSync(file, Math.round(Number(m[2]) * 1024 ** 3));
  }
  const size = fs.statSync(file).size;
  const options = rest.filter((o) => !o.startsWith('import-from=') && !o.startsWith('size='));
  return [volid, ...options, `size=${Math.ceil(size / 1024 ** 2)}M`].join(',');
}
