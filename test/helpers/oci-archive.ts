/**
 * Packs root filesystems for tests: as an OCI image layout tar (what skopeo's
 * `oci-archive:` writes and Proxmox 9.1 detects as an OCI template), and as a
 * plain `.tar` / `.tar.gz` / `.tar.zst` container template with `./` entries.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';

export const OCI_MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

export type LayerCompression = 'none' | 'gzip' | 'zstd';

/** The `config` part of an OCI image config (the fields Proxmox maps). */
export interface OciImageConfigInput {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  Volumes?: Record<string, Record<string, never>>;
}

/** One layer: the contents of `dir` (whiteout marker files included as they are). */
export interface OciLayerInput {
  dir: string;
  compression?: LayerCompression;
}

/** One image (one manifest in the index). */
export interface OciImageInput {
  layers: OciLayerInput[];
  config?: OciImageConfigInput;
  /** Default `amd64`. */
  architecture?: string;
  /** Default `linux`. */
  os?: string;
  /** Default the OCI image config media type; tests set another to provoke a rejection. */
  configMediaType?: string;
  /** The index entry's `org.opencontainers.image.ref.name` (the name `ctr images import` gives it). */
  refName?: string;
}

export interface OciArchiveOptions {
  /** Write the archive's entries as `./oci-layout` etc. (which Proxmox does NOT detect as OCI). */
  dotSlashEntries?: boolean;
}

/** Marks `path` (relative to the layer root) as deleted: creates the empty `.wh.<name>` file. */
export async function addWhiteout(layerDir: string, path: string): Promise<void> {
  const parent = dirname(path);
  const name = path.slice(parent === '.' ? 0 : parent.length + 1);
  await mkdir(join(layerDir, parent), { recursive: true });
  await writeFile(join(layerDir, parent, `.wh.${name}`), '');
}

/** Marks directory `path` (relative to the layer root) as opaque: lower layers' contents are hidden. */
export async function addOpaqueMarker(layerDir: string, path: string): Promise<void> {
  await mkdir(join(layerDir, path), { recursive: true });
  await writeFile(join(layerDir, path, '.wh..wh..opq'), '');
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Tars the contents of `dir` with entries relative to it, no `./` prefix, numeric owners. */
async function tarDirContents(dir: string, out: string): Promise<void> {
  const entries = (await readdir(dir)).sort();
  await execa('tar', ['-C', dir, '--numeric-owner', '--sort=name', '--xattrs', '-cf', out, '--null', '-T', '-'], {
    input: entries.map((e) => `${e}\0`).join(''),
  });
}

async function compressFile(file: string, compression: LayerCompression): Promise<string> {
  if (compression === 'none') return file;
  if (compression === 'gzip') {
    await execa('gzip', ['-n', '-f', file]);
    return `${file}.gz`;
  }
  await execa('zstd', ['-q', '--rm', '-f', file, '-o', `${file}.zst`]);
  return `${file}.zst`;
}

function layerMediaType(compression: LayerCompression): string {
  switch (compression) {
    case 'none':
      return OCI_MEDIA_TYPES.layerTar;
    case 'gzip':
      return OCI_MEDIA_TYPES.layerGzip;
    case 'zstd':
      return OCI_MEDIA_TYPES.layerZstd;
  }
}

interface BlobRef {
  mediaType: string;
  digest: string;
  size: number;
}

/** Moves `file` into the layout's blob store under its digest. */
async function storeBlob(blobsDir: string, file: string, mediaType: string): Promise<BlobRef> {
  const hex = await sha256File(file);
  const size = (await stat(file)).size;
  await rename(file, join(blobsDir, hex));
  return { mediaType, digest: `sha256:${hex}`, size };
}

async function storeJsonBlob(blobsDir: string, value: unknown, mediaType: string): Promise<BlobRef> {
  const text = JSON.stringify(value);
  const hex = createHash('sha256').update(text).digest('hex');
  await writeFile(join(blobsDir, hex), text);
  return { mediaType, digest: `sha256:${hex}`, size: Buffer.byteLength(text) };
}

async function writeImage(
  blobsDir: string, work: string, image: OciImageInput, index: number,
): Promise<BlobRef & { platform: { architecture: string; os: string }; annotations?: Record<string, string> }> {
  const layers: BlobRef[] = [];
  const diffIds: string[] = [];
  for (const [n, layer] of image.layers.entries()) {
    const compression = layer.compression ?? 'none';
    const tarFile = join(work, `image${index}-layer${n}.tar`);
    await tarDirContents(layer.dir, tarFile);
    diffIds.push(`sha256:${await sha256File(tarFile)}`);
    const packed = await compressFile(tarFile, compression);
    layers.push(await storeBlob(blobsDir, packed, layerMediaType(compression)));
  }
  const architecture = image.architecture ?? 'amd64';
  const os = image.os ?? 'linux';
  const config = await storeJsonBlob(
    blobsDir,
    {
      architecture,
      os,
      created: '2025-01-01T00:00:00Z',
      config: image.config ?? {},
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: image.layers.map(() => ({ created: '2025-01-01T00:00:00Z', created_by: 'proxrun test' })),
    },
    image.configMediaType ?? OCI_MEDIA_TYPES.config,
  );
  const manifest = await storeJsonBlob(
    blobsDir,
    { schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.manifest, config, layers },
    OCI_MEDIA_TYPES.manifest,
  );
  const annotations = image.refName === undefined ? {} : { annotations: { 'org.opencontainers.image.ref.name': image.refName } };
  return { ...manifest, platform: { architecture, os }, ...annotations };
}

/**
 * Writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) as the
 * uncompressed tar `out`. Several images become several manifests in the index,
 * in the given order.
 */
export async function packOciArchive(out: string, images: OciImageInput | OciImageInput[], options: OciArchiveOptions = {}): Promise<void> {
  const list = Array.isArray(images) ? images : [images];
  if (list.length === 0) throw new Error('packOciArchive: images must not be empty');
  const work = await mkdtemp(join(tmpdir(), 'oci-archive-'));
  try {
    const layout = join(work, 'layout');
    const blobsDir = join(layout, 'blobs', 'sha256');
    await mkdir(blobsDir, { recursive: true });
    const manifests = [];
    for (const [n, image] of list.entries()) manifests.push(await writeImage(blobsDir, work, image, n));
    await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.index, manifests }));
    const names = ['oci-layout', 'index.json', 'blobs'];
    const args = options.dotSlashEntries ? names.map((n) => `./${n}`) : names;
    await execa('tar', ['-C', layout, '--numeric-owner', '--sort=name', '-cf', out, ...args]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Packs `rootfsDir` as a plain container template with `./` entries, the way
 * Proxmox's templates look. The compression follows `out`'s name:
 * `.tar`, `.tar.gz`, `.tar.zst`.
 */
export async function packPlainTemplate(rootfsDir: string, out: string): Promise<void> {
  let compressFlag: string[];
  if (out.endsWith('.tar')) compressFlag = [];
  else if (out.endsWith('.tar.gz')) compressFlag = ['--gzip'];
  else if (out.endsWith('.tar.zst')) compressFlag = ['--zstd'];
  else throw new Error(`packPlainTemplate: out must end in .tar, .tar.gz or .tar.zst: ${out}`);
  await execa('tar', ['-C', rootfsDir, '--numeric-owner', '--sort=name', '--xattrs', ...compressFlag, '-cf', out, '.']);
}
