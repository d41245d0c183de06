/**
 * Proxmox's create always extracts an ostemplate. For the directory delivery
 * the template is only a formality: proxrun uploads a near-empty tar (one `./`
 * entry) under a name of its own for one container, and removes it right
 * after create, so no template outlives the container.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { PveOps } from '../pve-ops.js';

const run = promisify(execFile);

export function baseTemplateName(tag: string): string {
  return `proxrun-base-${tag}.tar`;
}

/** Uploads the near-empty template to `storage`; returns its volid. */
export async function uploadBaseTemplate(ops: PveOps, node: string, storage: string, name: string): Promise<string> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'proxrun-base-'));
  try {
    const empty = path.join(work, 'root');
    const tar = path.join(work, name);
    await run('mkdir', ['-m', '755', empty]);
    await run('tar', ['-C', empty, '--numeric-owner', '--owner=0', '--group=0', '-cf', tar, '.']);
    return await ops.uploadFile(node, storage, 'vztmpl', tar, name);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
