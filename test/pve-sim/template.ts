/**
 * Container templates for the simulator's `create`: tells OCI image archives
 * from plain templates the way Proxmox 9.1 does, extracts either into a
 * rootfs (inside the container's user namespace when unprivileged, so owners
 * land at 100000+), maps an OCI image config to CT config values, and detects
 * the ostype from the extracted /etc/os-release.
 */
import { lstat, mkdir, mkdtemp, chmod, chown, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { execa } from 'execa';
import type { OciImageMapping } from './types.js';
import { UNPRIVILEGED_ID_COUNT, UNPRIVILEGED_ID_OFFSET } from './volumes.js';

/** How a template should be unpacked into a rootfs. */
export interface ExtractOptions {
  /** Extract inside the default unprivileged id map (owners shifted by 100000). */
  unprivileged: boolean;
}

/** The image config fields Proxmox reads (`config` of an OCI image config). */
export interface OciImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  Volumes?: Record<string, unknown> | null;
}

const OCI_CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';

/** Decompression flag for GNU tar per layer media type. */
const LAYER_TAR_FLAGS: Record<string, string[]> = {
  'application/vnd.oci.image.layer.v1.tar': [],
  'application/vnd.oci.image.layer.v1.tar+gzip': ['--gzip'],
  'application/vnd.oci.image.layer.v1.tar+zstd': ['--zstd'],
  'application/vnd.oci.image.layer.nondistributable.v1.tar': [],
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': ['--gzip'],
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': ['--zstd'],
};

/**
 * Whether `file` is an OCI image archive by Proxmox's rule: the name ends in
 * `.tar` and `tar -tf` lists exactly `oci-layout`, exactly `index.json`, and
 * something under `blobs/`. `./oci-layout` does not count.
 */
export async function archiveIsOciFormat(file: string): Promise<boolean> {
  if (!file.endsWith('.tar')) return false;
  const listing = await execa('tar', ['-tf', file], { reject: false, stripFinalNewline: true });
  if (listing.exitCode !== 0) return false;
  let layout = false;
  let index = false;
  let blobs = false;
  for (const entry of listing.stdout.split('\n')) {
    if (entry === 'oci-layout') layout = true;
    else if (entry === 'index.json') index = true;
    else if (entry.startsWith('blobs/')) blobs = true;
  }
  return layout && index && blobs;
}

/** GNU tar flags to decompress a plain template, chosen by its file name. */
function plainTemplateCompression(file: string): string[] {
  if (file.endsWith('.tar')) return [];
  if (file.endsWith('.tar.gz')) return ['--gzip'];
  if (file.endsWith('.tar.zst')) return ['--zstd'];
  if (file.endsWith('.tar.xz')) return ['--xz'];
  if (file.endsWith('.tar.bz2')) return ['--bzip2'];
  throw new Error(`ostemplate: unsupported template file name '${file}' (need .tar, .tar.gz, .tar.zst, .tar.xz or .tar.bz2)`);
}

const USERNS_MAP = [
  '-m', `u:0:${UNPRIVILEGED_ID_OFFSET}:${UNPRIVILEGED_ID_COUNT}`,
  '-m', `g:0:${UNPRIVILEGED_ID_OFFSET}:${UNPRIVILEGED_ID_COUNT}`,
];

/**
 * Runs GNU tar to extract the file `archive` (opened by the host, fed on stdin)
 * into `rootdir` (entered by the host before any namespace switch), inside the
 * unprivileged id map when asked, as Proxmox's run_in_userns does.
 */
async function runTarExtract(archive: string, rootdir: string, tarArgs: string[], options: ExtractOptions): Promise<void> {
  const tarCmd = ['tar', '-x', '-f', '-', '-C', '.', ...tarArgs];
  const argv = options.unprivileged ? ['lxc-usernsexec', ...USERNS_MAP, '--', ...tarCmd] : tarCmd;
  const [cmd, ...args] = argv as [string, ...string[]];
  const result = await execa(cmd, args, { cwd: rootdir, stdin: { file: archive }, reject: false, all: true });
  if (result.exitCode !== 0) {
    throw new Error(`unable to extract '${archive}': ${(result.all ?? '').trim() || `tar exited with ${result.exitCode}`}`);
  }
}

const COMMON_TAR_FLAGS = [
  '--numeric-owner', '-p', '--same-owner', '--sparse', '--one-file-system',
  '--xattrs', '--xattrs-include=user.*', '--xattrs-include=security.capability',
  '--warning=no-file-ignored', '--warning=no-xattr-write',
];

/** Extracts a plain `.tar[.gz|.zst|.xz|.bz2]` template (entries `./...`), skipping `./dev/*`. */
export async function extractPlainTemplate(archive: string, rootdir: string, options: ExtractOptions): Promise<void> {
  const compression = plainTemplateCompression(archive);
  await runTarExtract(archive, rootdir, [...compression, ...COMMON_TAR_FLAGS, '--anchored', '--exclude=./dev/*'], options);
}

/** Splits a tar member name into path components, dropping `./` and leading `/`. */
function memberComponents(name: string): string[] {
  return posix.normalize(`/${name}`).split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * The host path of `components` under `rootdir`, only if every parent is a real
 * directory (no symlinks), so a whiteout cannot reach outside the rootfs.
 */
async function pathInsideRoot(rootdir: string, components: string[]): Promise<string | undefined> {
  if (components.some((c) => c === '..')) return undefined;
  let path = rootdir;
  for (const component of components.slice(0, -1)) {
    path = join(path, component);
    try {
      const st = await lstat(path);
      if (!st.isDirectory()) return undefined;
    } catch {
      return undefined;
    }
  }
  return components.length === 0 ? rootdir : join(path, components[components.length - 1] as string);
}

/** Applies the whiteouts listed in one layer to the rootfs built from the layers below it. */
async function applyWhiteouts(rootdir: string, memberNames: string[]): Promise<void> {
  for (const name of memberNames) {
    const components = memberComponents(name);
    const base = components[components.length - 1];
    if (base === undefined || !base.startsWith('.wh.')) continue;
    const parent = components.slice(0, -1);
    if (base === '.wh..wh..opq') {
      const dir = await pathInsideRoot(rootdir, [...parent, 'x']);
      if (dir === undefined) continue;
      const dirPath = join(dir, '..');
      let children: string[] = [];
      try {
        if ((await lstat(dirPath)).isDirectory()) children = await readdir(dirPath);
      } catch {
        continue;
      }
      for (const child of children) await rm(join(dirPath, child), { recursive: true, force: true });
      continue;
    }
    const target = await pathInsideRoot(rootdir, [...parent, base.slice('.wh.'.length)]);
    if (target !== undefined) await rm(target, { recursive: true, force: true });
  }
}

interface OciDescriptor {
  mediaType?: string;
  digest: string;
  platform?: { architecture?: string; os?: string };
}

function blobPath(layoutDir: string, descriptor: OciDescriptor, what: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(descriptor.digest);
  if (!m) throw new Error(`OCI archive: ${what} has an unsupported digest '${descriptor.digest}'`);
  return join(layoutDir, 'blobs', 'sha256', m[1] as string);
}

async function readJson(path: string, what: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (err) {
    throw new Error(`OCI archive: unable to read ${what}: ${(err as Error).message}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function descriptorList(value: unknown, what: string): OciDescriptor[] {
  if (!Array.isArray(value)) throw new Error(`OCI archive: ${what} is missing`);
  return value.map((d, i) => {
    if (!isRecord(d) || typeof d.digest !== 'string') throw new Error(`OCI archive: ${what}[${i}] has no digest`);
    return d as unknown as OciDescriptor;
  });
}

/**
 * Extracts an OCI image archive: picks the manifest for `arch` (or the first),
 * requires an OCI image config, applies the layers in order with whiteouts.
 * Returns the image's `config` object.
 */
export async function extractOciArchive(archive: string, rootdir: string, options: ExtractOptions & { arch?: string }): Promise<OciImageConfig> {
  const work = await mkdtemp(join(tmpdir(), 'pve-sim-oci-'));
  try {
    await execa('tar', ['-x', '-f', archive, '-C', work, '--no-same-owner']);
    const index = await readJson(join(work, 'index.json'), 'index.json');
    if (!isRecord(index)) throw new Error('OCI archive: index.json is not an object');
    const manifests = descriptorList(index.manifests, 'index.json manifests');
    const arch = options.arch ?? 'amd64';
    const chosen = manifests.find((m) => m.platform?.architecture === arch) ?? manifests[0];
    if (!chosen) throw new Error('OCI archive: index.json lists no manifest');
    const manifest = await readJson(blobPath(work, chosen, 'manifest'), 'manifest');
    if (!isRecord(manifest) || !isRecord(manifest.config)) throw new Error('OCI archive: manifest has no config');
    const configDesc = manifest.config as unknown as OciDescriptor;
    if (configDesc.mediaType !== OCI_CONFIG_MEDIA_TYPE) {
      throw new Error(`OCI archive: unsupported image config media type '${String(configDesc.mediaType)}'`);
    }
    const imageConfig = await readJson(blobPath(work, configDesc, 'config'), 'image config');
    if (!isRecord(imageConfig)) throw new Error('OCI archive: image config is not an object');
    const layers = descriptorList(manifest.layers, 'manifest layers');
    for (const layer of layers) {
      const flags = LAYER_TAR_FLAGS[layer.mediaType ?? ''];
      if (flags === undefined) throw new Error(`OCI archive: unsupported layer media type '${String(layer.mediaType)}'`);
      const file = blobPath(work, layer, 'layer');
      const listing = await execa('tar', ['-t', ...flags, '-f', file]);
      await applyWhiteouts(rootdir, listing.stdout.split('\n'));
      await runTarExtract(file, rootdir, [...flags, ...COMMON_TAR_FLAGS, '--exclude=.wh.*'], options);
    }
    const config = isRecord(imageConfig.config) ? (imageConfig.config as OciImageConfig) : {};
    return config;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Quotes one word the way Perl's String::ShellQuote does. */
function shellQuoteWord(word: string): string {
  if (word === '') return "''";
  if (!/[^\w\-/.:=@]/.test(word)) return word;
  let quoted = word.replace(/'/g, "'\\''");
  // Runs of two or more quotes read better as '"''"'.
  quoted = quoted.replace(/(?:'\\''){2,}/g, (run) => `'"${"'".repeat(run.length / 4)}"'`);
  quoted = `'${quoted}'`;
  if (quoted.startsWith("''")) quoted = quoted.slice(2);
  if (quoted.endsWith("''")) quoted = quoted.slice(0, -2);
  return quoted;
}

/** Joins words into one shell command line (PVE::Tools::cmd2string). */
export function shellQuote(words: readonly string[]): string {
  return words.map(shellQuoteWord).join(' ');
}

/** Allowed in OCI values written to the CT config: no control characters except TAB. */
function checkNoControlChars(key: string, value: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new Error(`OCI config value for '${key}' contains forbidden control characters!`);
}

/**
 * Resolves `path` (absolute, inside the container) to a host path under
 * `rootdir`, following symlinks as if rootdir were `/`.
 */
export async function resolveInRoot(rootdir: string, path: string): Promise<string> {
  let pending = memberComponents(path);
  const resolved: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const [head, ...rest] = pending as [string, ...string[]];
    pending = rest;
    if (head === '..') {
      resolved.pop();
      continue;
    }
    const host = join(rootdir, ...resolved, head);
    let st;
    try {
      st = await lstat(host);
    } catch {
      resolved.push(head, ...pending);
      return join(rootdir, ...resolved);
    }
    if (st.isSymbolicLink()) {
      hops += 1;
      if (hops > 40) throw new Error(`too many levels of symbolic links resolving ${path}`);
      const target = await readlink(host);
      if (target.startsWith('/')) resolved.length = 0;
      pending = [...posix.normalize(target).split('/').filter((c) => c !== '' && c !== '.'), ...pending];
      continue;
    }
    resolved.push(head);
  }
  return join(rootdir, ...resolved);
}

async function readInRoot(rootdir: string, path: string): Promise<string | undefined> {
  try {
    return await readFile(await resolveInRoot(rootdir, path), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

interface IdEntry {
  name: string;
  id: number;
  gid?: number;
  members: string[];
}

function parseColonFile(text: string | undefined, kind: 'passwd' | 'group'): IdEntry[] {
  const entries: IdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const id = Number(f[2]);
    if (!Number.isInteger(id)) continue;
    if (kind === 'passwd') entries.push({ name: f[0] ?? '', id, gid: Number(f[3]), members: [] });
    else entries.push({ name: f[0] ?? '', id, members: (f[3] ?? '').split(',').filter((m) => m !== '') });
  }
  return entries;
}

/** uid, gid and supplementary gids for an OCI `User` value, resolved in the image's /etc files. */
export async function resolveImageUser(rootdir: string, user: string): Promise<{ uid: number; gid: number; groups: number[] }> {
  const passwd = parseColonFile(await readInRoot(rootdir, '/etc/passwd'), 'passwd');
  const groups = parseColonFile(await readInRoot(rootdir, '/etc/group'), 'group');
  const [userPart = '', groupPart] = user.split(':', 2);
  const byName = passwd.find((e) => e.name === userPart);
  const byId = /^\d+$/.test(userPart) ? passwd.find((e) => e.id === Number(userPart)) : undefined;
  const entry = byName ?? byId;
  let uid: number;
  if (/^\d+$/.test(userPart)) uid = Number(userPart);
  else if (byName) uid = byName.id;
  else throw new Error(`OCI image User '${user}': unable to find user '${userPart}' in the image's /etc/passwd`);
  let gid: number;
  if (groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((e) => e.name === groupPart);
      if (!g) throw new Error(`OCI image User '${user}': unable to find group '${groupPart}' in the image's /etc/group`);
      gid = g.id;
    }
  } else {
    gid = entry?.gid ?? 0;
  }
  const supplementary = entry ? groups.filter((g) => g.members.includes(entry.name) && g.id !== gid).map((g) => g.id) : [];
  return { uid, gid, groups: supplementary };
}

/**
 * Maps an OCI image config to CT config values as Proxmox's Create.pm does.
 * Volumes are created as directories inside `rootdir` (owned by the CT's root).
 */
export async function mapOciImageConfig(config: OciImageConfig, rootdir: string, options: ExtractOptions): Promise<OciImageMapping> {
  const mapping: OciImageMapping = { lxc: [], customEntrypoint: false };
  const words = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  const entrypoint = shellQuote(words);
  if (entrypoint !== '' && !entrypoint.startsWith('/sbin/init')) {
    checkNoControlChars('Entrypoint', entrypoint);
    mapping.entrypoint = entrypoint;
    mapping.customEntrypoint = true;
  }
  if (config.Env && config.Env.length > 0) {
    for (const e of config.Env) checkNoControlChars('Env', e);
    mapping.env = config.Env.join('\0');
  }
  if (config.User !== undefined && config.User !== '') {
    checkNoControlChars('User', config.User);
    const { uid, gid, groups } = await resolveImageUser(rootdir, config.User);
    mapping.lxc.push(['lxc.init.uid', String(uid)], ['lxc.init.gid', String(gid)]);
    if (groups.length > 0) mapping.lxc.push(['lxc.init.groups', groups.join(',')]);
  }
  if (config.WorkingDir !== undefined && config.WorkingDir !== '') {
    checkNoControlChars('WorkingDir', config.WorkingDir);
    mapping.lxc.push(['lxc.init.cwd', config.WorkingDir]);
  }
  const halt = config.StopSignal !== undefined && config.StopSignal !== '' ? config.StopSignal : 'SIGTERM';
  checkNoControlChars('StopSignal', halt);
  mapping.lxc.push(['lxc.signal.halt', halt]);
  const rootId = options.unprivileged ? UNPRIVILEGED_ID_OFFSET : 0;
  for (const volume of Object.keys(config.Volumes ?? {})) {
    const host = await resolveInRoot(rootdir, volume);
    await mkdir(host, { recursive: true });
    await chown(host, rootId, rootId);
    await chmod(host, 0o755);
  }
  return mapping;
}

/** Known os-release IDs and the ostype Proxmox gives them. */
const OSTYPE_BY_ID: Record<string, string> = {
  debian: 'debian',
  devuan: 'devuan',
  ubuntu: 'ubuntu',
  centos: 'centos',
  rhel: 'centos',
  rocky: 'centos',
  almalinux: 'centos',
  fedora: 'fedora',
  opensuse: 'opensuse',
  'opensuse-leap': 'opensuse',
  'opensuse-tumbleweed': 'opensuse',
  arch: 'archlinux',
  archarm: 'archlinux',
  alpine: 'alpine',
  gentoo: 'gentoo',
  nixos: 'nixos',
};

export interface OstypeDetection {
  ostype: string;
  /** Task warnings to print (the unmanaged fallback). */
  warnings: string[];
}

/** Reads `KEY=value` from os-release text, unquoting the value. */
function osReleaseValue(text: string, key: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_]+)=(.*)$/.exec(line);
    if (m && m[1] === key) return (m[2] ?? '').trim().replace(/^(["'])(.*)\1$/, '$2');
  }
  return undefined;
}

/**
 * Detects the CT's ostype from the rootfs: `unmanaged` (with Proxmox's warnings)
 * when there is no os-release, the matching type for a known distribution, and
 * an error "unable to detect OS distribution" otherwise.
 */
export async function detectOstype(rootdir: string, vmid: number): Promise<OstypeDetection> {
  const text = (await readInRoot(rootdir, '/etc/os-release')) ?? (await readInRoot(rootdir, '/usr/lib/os-release'));
  if (text === undefined) {
    return {
      ostype: 'unmanaged',
      warnings: [
        "/etc/os-release file not found and autodetection failed, falling back to 'unmanaged'",
        'Falling back to amd64.',
        `Use \`pct set ${vmid} --arch ARCH\` to change.`,
      ],
    };
  }
  const id = osReleaseValue(text, 'ID');
  const ostype = id === undefined ? undefined : OSTYPE_BY_ID[id];
  if (ostype === undefined) throw new Error('unable to detect OS distribution');
  return { ostype, warnings: [] };
}

/** What extracting a template produced. */
export interface ExtractedTemplate {
  kind: 'oci' | 'plain';
  /** Present for OCI archives: what the image config maps to. */
  oci?: OciImageMapping;
}

/** Extracts any supported template into `rootdir`, mapping the image config for OCI archives. */
export async function extractTemplate(archive: string, rootdir: string, options: ExtractOptions & { arch?: string }): Promise<ExtractedTemplate> {
  if (await archiveIsOciFormat(archive)) {
    const config = await extractOciArchive(archive, rootdir, options);
    return { kind: 'oci', oci: await mapOciImageConfig(config, rootdir, options) };
  }
  await extractPlainTemplate(archive, rootdir, options);
  return { kind: 'plain' };
}
