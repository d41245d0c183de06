/**
 * Builds the guest's initramfs: a gzip'd newc cpio of busybox-static, the
 * kernel's virtio modules (uncompressed, with their load order) and /init.
 * It is the same for every VM booting a given kernel, so it is cached under a
 * name made of the hash of everything in it; a VM's own spec travels in a
 * small uncompressed cpio appended to a copy of it (the kernel unpacks
 * concatenated archives one after the other).
 */
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeCpioNewc, type CpioEntry } from './cpio-newc.js';
import { INITRAMFS_MODULE_DIR, INITRAMFS_MODULE_ORDER_FILE, INITRAMFS_SPEC_FILE, renderGuestInit } from './guest-init.js';
import type { GuestKernel } from './guest-kernel.js';
import { renderGuestSpec, type GuestSpec } from './guest-spec.js';
import { readModuleIndexes, readModuleUncompressed, resolveGuestModules } from './kernel-modules.js';

export const DEFAULT_GUEST_BUSYBOX = '/bin/busybox';
/** Bump when the layout of the archive changes in a way the hash would not see. */
const FORMAT_VERSION = '1';

export interface BaseInitramfsOptions {
  readonly kernel: GuestKernel;
  /** Where built archives are kept (created if missing). */
  readonly cacheDir: string;
  /** proxrun's version: a new version builds a new archive. */
  readonly proxrunVersion: string;
  /** A statically linked busybox (Debian busybox-static); default /bin/busybox. */
  readonly busyboxPath?: string;
}

export interface BaseInitramfs {
  /** The cached archive (gzip'd cpio). */
  readonly path: string;
  /** sha256 of every input, also in the file name. */
  readonly hash: string;
  /** Module names in load order. */
  readonly modules: readonly string[];
  /** False when the archive came from the cache. */
  readonly built: boolean;
}

async function readBusybox(path: string): Promise<Buffer> {
  const data = await readFile(path).catch(() => {
    throw new Error(`${path} not found: install Debian package busybox-static`);
  });
  // A dynamically linked busybox would need its libraries in the initramfs.
  if (data.includes(Buffer.from('/lib64/ld-linux')) || data.includes(Buffer.from('/lib/ld-linux'))) {
    throw new Error(`${path} is dynamically linked: the guest needs busybox-static`);
  }
  return data;
}

function baseEntries(init: string, busybox: Buffer, modules: readonly { name: string; data: Buffer }[]): CpioEntry[] {
  const dirs = ['bin', 'dev', 'proc', 'sys', 'run', 'tmp', 'newroot', 'proxrun', 'lib', 'lib/modules', INITRAMFS_MODULE_DIR];
  return [
    ...dirs.map((path): CpioEntry => ({ kind: 'dir', path, mode: 0o755 })),
    { kind: 'char', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
    { kind: 'char', path: 'dev/null', mode: 0o666, major: 1, minor: 3 },
    { kind: 'file', path: 'bin/busybox', mode: 0o755, data: busybox },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    { kind: 'file', path: 'init', mode: 0o755, data: Buffer.from(init) },
    { kind: 'file', path: INITRAMFS_MODULE_ORDER_FILE, mode: 0o644, data: Buffer.from(modules.map((m) => m.name).join('\n') + '\n') },
    ...modules.map((m): CpioEntry => ({ kind: 'file', path: `${INITRAMFS_MODULE_DIR}/${m.name}.ko`, mode: 0o644, data: m.data })),
  ];
}

/** The cached initramfs for this kernel and proxrun version, built when missing. */
export async function ensureBaseInitramfs(options: BaseInitramfsOptions): Promise<BaseInitramfs> {
  const { dep, builtin } = await readModuleIndexes(options.kernel.modulesDir);
  const wanted = resolveGuestModules(dep, builtin);
  const modules = await Promise.all(
    wanted.map(async (module) => ({ name: module.name, data: await readModuleUncompressed(options.kernel.modulesDir, module) })),
  );
  const busybox = await readBusybox(options.busyboxPath ?? DEFAULT_GUEST_BUSYBOX);
  const init = renderGuestInit();

  const hasher = createHash('sha256');
  for (const part of [FORMAT_VERSION, options.proxrunVersion, options.kernel.version, init]) hasher.update(`${part.length}:${part}`);
  hasher.update(busybox);
  for (const module of modules) hasher.update(`${module.name}:${module.data.length}:`).update(module.data);
  const hash = hasher.digest('hex');

  const path = join(options.cacheDir, `initramfs-${options.kernel.version}-${hash.slice(0, 16)}.img`);
  const names = modules.map((m) => m.name);
  if (await access(path).then(() => true, () => false)) return { path, hash, modules: names, built: false };

  await mkdir(options.cacheDir, { recursive: true });
  const archive = gzipSync(writeCpioNewc(baseEntries(init, busybox, modules)));
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, archive, { mode: 0o644 });
    await rename(temporary, path); // atomic: a concurrent builder writes the same bytes
  } finally {
    await rm(temporary, { force: true });
  }
  return { path, hash, modules: names, built: true };
}

/** The small uncompressed cpio holding one VM's spec. */
export function specArchive(spec: GuestSpec): Buffer {
  return writeCpioNewc([{ kind: 'file', path: INITRAMFS_SPEC_FILE, mode: 0o644, data: Buffer.from(renderGuestSpec(spec)) }]);
}

/** Writes the VM's initrd: the shared archive with the spec archive appended. */
export async function writeVmInitrd(baseInitramfsPath: string, spec: GuestSpec, destination: string): Promise<void> {
  const base = await readFile(baseInitramfsPath);
  // gzip members end on a byte boundary; the kernel skips zero padding between archives up to 4-byte alignment.
  const padding = Buffer.alloc((4 - (base.length % 4)) % 4);
  await writeFile(destination, Buffer.concat([base, padding, specArchive(spec)]), { mode: 0o600 });
}
