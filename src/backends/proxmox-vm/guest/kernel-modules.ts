/**
 * Finds the kernel modules the guest needs (virtio transport, block, console,
 * virtiofs when the kernel has it) through the kernel's own `modules.dep`,
 * with their dependencies first, and reads them uncompressed: busybox
 * `insmod` hands the file to init_module(2) as it is, so a `.ko.xz` or
 * `.ko.zst` must be unpacked on the host.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Modules the guest cannot boot without (unless built into the kernel). */
export const REQUIRED_GUEST_MODULES: readonly string[] = [
  'virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_blk', 'virtio_console',
];

/** Modules loaded when the kernel has them: bind mounts over virtiofs. */
export const OPTIONAL_GUEST_MODULES: readonly string[] = ['virtiofs'];

/** A module file to put in the initramfs, in load order. */
export interface GuestModule {
  /** Name as `insmod`/`lsmod` know it ("virtio_pci"). */
  readonly name: string;
  /** Path relative to the modules dir, as in modules.dep ("kernel/drivers/virtio/virtio_pci.ko"). */
  readonly relativePath: string;
}

/** A module's name from its file name: dashes become underscores, the .ko suffix goes. */
export function moduleNameOf(relativePath: string): string {
  return basename(relativePath).replace(/\.ko(\.(xz|zst|gz))?$/, '').replaceAll('-', '_');
}

/** modules.dep as a map: module name -> its path and the paths it depends on. */
export function parseModulesDep(text: string): Map<string, { path: string; deps: string[] }> {
  const byName = new Map<string, { path: string; deps: string[] }>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter((dep) => dep !== '');
    byName.set(moduleNameOf(path), { path, deps });
  }
  return byName;
}

/** Names of modules compiled into the kernel, from modules.builtin. */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(text.split('\n').filter((line) => line.trim() !== '').map(moduleNameOf));
}

/**
 * The modules to load, dependencies before dependants, each once. A wanted
 * module built into the kernel is skipped; a required one that is neither a
 * module nor built in is an error naming it.
 */
export function resolveGuestModules(
  modulesDep: string,
  modulesBuiltin: string,
  required: readonly string[] = REQUIRED_GUEST_MODULES,
  optional: readonly string[] = OPTIONAL_GUEST_MODULES,
): GuestModule[] {
  const dep = parseModulesDep(modulesDep);
  const builtin = parseModulesBuiltin(modulesBuiltin);
  const ordered: GuestModule[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();

  const place = (name: string, path: string): void => {
    if (placed.has(name)) return;
    if (visiting.has(name)) throw new Error(`modules.dep has a dependency cycle through ${name}`);
    visiting.add(name);
    for (const depPath of dep.get(name)?.deps ?? []) place(moduleNameOf(depPath), depPath);
    visiting.delete(name);
    placed.add(name);
    ordered.push({ name, relativePath: path });
  };

  for (const name of [...required, ...optional]) {
    const entry = dep.get(name);
    if (entry) place(name, entry.path);
    else if (!builtin.has(name) && required.includes(name)) {
      throw new Error(`kernel module ${name} is neither in modules.dep nor built in: the guest kernel cannot reach its disk and ports`);
    }
  }
  return ordered;
}

/** The module's bytes, decompressed when the file is .ko.xz, .ko.zst or .ko.gz. */
export async function readModuleUncompressed(modulesDir: string, module: GuestModule): Promise<Buffer> {
  const file = join(modulesDir, module.relativePath);
  const tool = file.endsWith('.xz') ? 'xz' : file.endsWith('.zst') ? 'zstd' : file.endsWith('.gz') ? 'gzip' : undefined;
  if (tool === undefined) return readFile(file);
  try {
    const { stdout } = await execFileAsync(tool, ['-dc', file], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const packageName = tool === 'zstd' ? 'zstd' : tool === 'xz' ? 'xz-utils' : 'gzip';
    throw new Error(`cannot decompress ${file} with ${tool} (Debian package ${packageName}): ${(error as Error).message}`);
  }
}

/** Reads modules.dep and modules.builtin (the latter may be missing) of a modules dir. */
export async function readModuleIndexes(modulesDir: string): Promise<{ dep: string; builtin: string }> {
  let dep: string;
  try {
    dep = await readFile(join(modulesDir, 'modules.dep'), 'utf8');
  } catch {
    throw new Error(`${modulesDir}/modules.dep not found: install the kernel's modules or run depmod for it`);
  }
  const builtin = await readFile(join(modulesDir, 'modules.builtin'), 'utf8').catch(() => '');
  return { dep, builtin };
}
