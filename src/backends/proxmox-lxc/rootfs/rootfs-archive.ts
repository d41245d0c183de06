/**
 * Archive rootfs delivery: the bundle's rootfs packed as an OCI image layout
 * tar (`oci-layout`, `index.json`, `blobs/sha256/…`, names without `./`, as
 * Proxmox's OCI detection wants), one uncompressed layer, and an image config
 * whose Entrypoint/WorkingDir/User/StopSignal come from the OCI process. Never
 * Env: the template is a file on the storage other users may read, and the
 * launcher gives the app its environment anyway.
 * Packing uses the system's GNU tar (numeric owners, xattrs); the owners stay
 * as in the bundle, since Proxmox extracts inside the CT's id map itself.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MonitoredProcess } from '../../../monitor/index.js';

const LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar';
const CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';
const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';

export interface ArchiveInputs {
  /** The bundle's rootfs folder. */
  readonly rootfs: string;
  readonly process: MonitoredProcess;
  readonly stopSignal: string;
  /** An empty work folder; the archive and its staging go inside it. */
  readonly workDir: string;
  /** File name of the archive (ends in `.tar`). */
  readonly fileName: string;
}

/** Runs tar with `stdin` as its input; rejects with tar's first stderr line. */
function tar(args: readonly string[], stdin: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString('utf8');
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`tar ${args[0] ?? ''} failed (${signal ?? `exit ${code}`}): ${stderr.split('\n').find((l) => l.trim() !== '') ?? 'no message'}`));
    });
    child.stdin.end(stdin);
  });
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .once('error', reject)
      .once('end', () => resolve(hash.digest('hex')));
  });
}

/** Writes `content` as a blob; returns its descriptor. */
async function writeBlob(blobs: string, mediaType: string, content: string): Promise<{ mediaType: string; digest: string; size: number }> {
  const digest = createHash('sha256').update(content).digest('hex');
  await writeFile(path.join(blobs, digest), content);
  return { mediaType, digest: `sha256:${digest}`, size: Buffer.byteLength(content) };
}

/** A value Proxmox would refuse (control characters other than TAB) is left out of the image config. */
function clean(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\x00-\x08\x0a-\x1f\x7f]/.test(value);
}

/** The image config's `config` object. The monitor runs the app; these fields describe it to Proxmox. */
export function imageConfigOf(process: MonitoredProcess, stopSignal: string): Record<string, unknown> {
  const config: Record<string, unknown> = { StopSignal: stopSignal };
  const args = process.args ?? [];
  if (args.length > 0 && args.every(clean)) config['Entrypoint'] = [...args];
  if (process.cwd !== '' && clean(process.cwd)) config['WorkingDir'] = process.cwd;
  if (process.user !== undefined) config['User'] = `${process.user.uid}:${process.user.gid}`;
  return config;
}

/** Builds the archive; returns its path. */
export async function buildOciArchive(inputs: ArchiveInputs): Promise<string> {
  const stage = path.join(inputs.workDir, 'layout');
  const blobs = path.join(stage, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });

  // The layer: the rootfs's top-level names (no `./` prefix), fed NUL-separated on stdin.
  const layerTemp = path.join(inputs.workDir, 'layer.tar');
  const names = await readdir(inputs.rootfs);
  await tar(
    ['-c', '-f', layerTemp, '-C', inputs.rootfs, '--numeric-owner', '--xattrs', '--sparse', '--null', '--verbatim-files-from', '-T', '-'],
    names.map((n) => `${n}\0`).join(''),
  );
  const layerDigest = await sha256File(layerTemp);
  const layerSize = (await stat(layerTemp)).size;
  await rename(layerTemp, path.join(blobs, layerDigest));

  const imageConfig = {
    architecture: 'amd64',
    os: 'linux',
    config: imageConfigOf(inputs.process, inputs.stopSignal),
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
  };
  const configDesc = await writeBlob(blobs, CONFIG_MEDIA_TYPE, JSON.stringify(imageConfig));
  const manifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    config: configDesc,
    layers: [{ mediaType: LAYER_MEDIA_TYPE, digest: `sha256:${layerDigest}`, size: layerSize }],
  };
  const manifestDesc = await writeBlob(blobs, MANIFEST_MEDIA_TYPE, JSON.stringify(manifest));
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...manifestDesc, platform: { architecture: 'amd64', os: 'linux' } }] };
  await writeFile(path.join(stage, 'index.json'), JSON.stringify(index));
  await writeFile(path.join(stage, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));

  const archive = path.join(inputs.workDir, inputs.fileName);
  await tar(['-c', '-f', archive, '-C', stage, '--numeric-owner', '--owner=0', '--group=0', '--null', '--verbatim-files-from', '-T', '-'], 'oci-layout\0index.json\0blobs\0');
  return archive;
}
