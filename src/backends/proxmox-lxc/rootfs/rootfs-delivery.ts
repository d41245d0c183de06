/**
 * The two ways a bundle's rootfs becomes a CT's rootfs, up to the point where
 * the CT exists with its files in place:
 * - `directory` (node-local, default): a near-empty base template, a `size=0`
 *   directory volume, and the rootfs copied in with owners shifted;
 * - `archive`: an OCI image archive of the rootfs uploaded as a vztmpl `.tar`
 *   and imported by Proxmox's create (works wherever the API reaches), after
 *   which the keys the OCI import overwrote are put back.
 * Either way the uploaded template is removed right after create. Every piece
 * made is recorded in `data` before the next step, so a failure can undo it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PROXMOX_DEFAULT_ID_MAP } from '../../../monitor/index.js';
import { allocateAndCreate, isVmidTaken } from '../../../proxmox/vmid.js';
import type { CreateRequest } from '../../../runtime/backend.js';
import { baseTemplateName, uploadBaseTemplate } from './base-template.js';
import type { LxcContainerData } from '../container-data.js';
import type { CtPlan } from '../translate/ct-plan.js';
import { step } from '../../../proxmox/step.js';
import type { PveOps } from '../pve-ops.js';
import { buildOciArchive } from './rootfs-archive.js';
import { copyRootfs } from './rootfs-copy.js';
import { rootfsVolumePath } from './rootfs-volume-path.js';
import type { LxcBackendSettings } from '../settings.js';

export interface DeliveryInputs {
  readonly req: CreateRequest;
  readonly plan: CtPlan;
  readonly settings: LxcBackendSettings;
  readonly ops: PveOps;
  readonly node: string;
  readonly storage: string;
  readonly data: LxcContainerData;
  readonly save: () => void;
}

/** CT config keys Proxmox's OCI import sets from the image config; proxrun's monitor runs the app instead. */
export const OCI_IMPORT_KEYS = ['entrypoint', 'env'] as const;

export function isUnprivileged(plan: CtPlan): boolean {
  const value = plan.createParams['unprivileged'];
  return value === undefined || value === 1 || value === true || value === '1';
}

/** The volume id in a `rootfs` value such as `local:9999/subvol-9999-disk-0.subvol,size=0`. */
function rootfsVolid(config: Record<string, unknown>): string {
  const rootfs = config['rootfs'];
  if (typeof rootfs !== 'string' || rootfs === '') throw new Error('the CT config has no rootfs');
  return rootfs.split(',')[0] ?? rootfs;
}

function tagFor(id: string): string {
  return `${id.slice(0, 24).replace(/[^A-Za-z0-9_-]/g, '_')}-${randomBytes(4).toString('hex')}`;
}

/** Uploads `upload()`'s template, creates the CT from it in a fresh VMID, removes the template. */
async function createFromTemplate(inputs: DeliveryInputs, templateName: string, upload: () => Promise<string>, rootfs: string): Promise<number> {
  const { plan, settings, ops, node, data, save } = inputs;
  data.templateStorage = settings.templateStorage;
  data.templateVolid = `${settings.templateStorage}:vztmpl/${templateName}`;
  save();
  const templateVolid = await step('upload template', upload);
  const params = { ...plan.createParams, ostemplate: templateVolid, rootfs: `${rootfs}${plan.readonlyRoot ? ',ro=1' : ''}` };
  const vmid = await step('create CT', () =>
    allocateAndCreate(ops, settings.vmidRange, async (id) => {
      try {
        await ops.createCt(node, id, params);
      } catch (err) {
        // Proxmox claimed this free id for our request (anything but "already exists"): a create
        // task that failed, timed out or ended without status can leave its config behind.
        if (!isVmidTaken(err)) {
          data.vmid = id;
          save();
        }
        throw err;
      }
    }),
  );
  data.vmid = vmid;
  save();
  await step('remove template', () => ops.deleteVolume(node, settings.templateStorage, templateVolid));
  delete data.templateVolid;
  save();
  return vmid;
}

async function deliverDirectory(inputs: DeliveryInputs): Promise<number> {
  const { req, plan, settings, ops, node, storage, data } = inputs;
  const templateName = baseTemplateName(tagFor(req.record.id));
  const vmid = await createFromTemplate(inputs, templateName, () => uploadBaseTemplate(ops, node, settings.templateStorage, templateName), `${storage}:0`);
  const volid = await step('read CT config', async () => rootfsVolid(await ops.ctConfig(node, vmid)));
  data.rootfsVolid = volid;
  const rootPath = await step('find rootfs volume', () => rootfsVolumePath(settings, volid));
  await step('copy rootfs', () => copyRootfs(req.record.rootfs, rootPath, isUnprivileged(plan) ? PROXMOX_DEFAULT_ID_MAP : undefined));
  return vmid;
}

async function deliverArchive(inputs: DeliveryInputs): Promise<number> {
  const { req, plan, settings, ops, node, storage } = inputs;
  const templateName = `proxrun-rootfs-${tagFor(req.record.id)}.tar`;
  const work = await mkdtemp(path.join(os.tmpdir(), 'proxrun-archive-'));
  let vmid: number;
  try {
    const archive = await step('pack rootfs archive', () =>
      buildOciArchive({ rootfs: req.record.rootfs, process: plan.process, stopSignal: plan.stopSignal, workDir: work, fileName: templateName }),
    );
    vmid = await createFromTemplate(inputs, templateName, () => ops.uploadFile(node, settings.templateStorage, 'vztmpl', archive, templateName), `${storage}:${plan.rootfsSizeGiB}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  // The OCI import replaced these with the image's values; the CT gets what the plan says (or none).
  const params: Record<string, string | number | boolean> = {};
  const remove: string[] = [];
  for (const key of OCI_IMPORT_KEYS) {
    const wanted = plan.createParams[key];
    if (wanted === undefined) remove.push(key);
    else params[key] = wanted;
  }
  await step('write CT config', () => ops.setCtConfig(node, vmid, params, remove));
  inputs.data.rootfsVolid = await step('read CT config', async () => rootfsVolid(await ops.ctConfig(node, vmid)));
  return vmid;
}

/** Creates the CT with the bundle's rootfs in it; returns its VMID. */
export function deliverRootfs(inputs: DeliveryInputs): Promise<number> {
  return inputs.settings.rootfsDelivery === 'archive' ? deliverArchive(inputs) : deliverDirectory(inputs);
}
