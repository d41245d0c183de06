/**
 * `create` on Proxmox, node-local directory delivery: a throw-away base
 * template, `pct create` with a `size=0` directory rootfs in a VMID from the
 * range, the bundle's rootfs copied in (owners shifted into the id map), the
 * monitor folder and its raw `lxc.*` keys, `pct start` (the app is held at the
 * start FIFO), the monitor, the create hooks, and last the pid file.
 * Progress is saved as each piece exists; on failure everything made is
 * destroyed and the error names the step.
 */
import { randomBytes } from 'node:crypto';
import { lxcConfigEntries, prepareMonitorDir, PROXMOX_DEFAULT_ID_MAP, spawnMonitor } from '../../monitor/index.js';
import type { Spec } from '../../oci/spec.js';
import { ProxmoxError } from '../../proxmox/client.js';
import { addRawLxcEntries, editGuestConf, guestConfPath } from '../../proxmox/conf-file.js';
import { allocateAndCreate } from '../../proxmox/vmid.js';
import type { CreateRequest } from '../../runtime/backend.js';
import type { CtPlan } from './ct-plan.js';
import { baseTemplateName, uploadBaseTemplate } from './base-template.js';
import { saveProgress, type LxcContainerData } from './container-data.js';
import { destroyContainer } from './destroy-container.js';
import { hookStateJson } from './hook-state.js';
import { runHooks } from './hooks.js';
import { initPid } from './lxc-local.js';
import { ensureMonitorBase, monitorDirFor } from './monitor-location.js';
import { writePidFile } from './pid-file.js';
import { volumePath, type PveOps } from './pve-ops.js';
import { copyRootfs } from './rootfs-copy.js';
import type { LxcBackendSettings } from './settings.js';

export interface CreateInputs {
  readonly req: CreateRequest;
  readonly plan: CtPlan;
  readonly settings: LxcBackendSettings;
  readonly ops: PveOps;
  readonly containerDir: string;
}

/** Runs one step; a failure becomes `<step>: <message>` on one line. */
async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProxmoxError) throw new ProxmoxError(err.step, oneLine(err.detail), err.status);
    const message = ((err as Error).message ?? String(err)).split('\n').filter((l) => l.trim() !== '').join(' ');
    throw new Error(`${name}: ${message}`);
  }
}

function oneLine(text: string): string {
  return text.split('\n').filter((l) => l.trim() !== '').join(' ');
}

function isUnprivileged(plan: CtPlan): boolean {
  const value = plan.createParams['unprivileged'];
  return value === undefined || value === 1 || value === true || value === '1';
}

/** The volume id in a `rootfs` value such as `local:9999/subvol-9999-disk-0.subvol,size=0`. */
function rootfsVolid(config: Record<string, unknown>): string {
  const rootfs = config['rootfs'];
  if (typeof rootfs !== 'string' || rootfs === '') throw new Error('the CT config has no rootfs');
  return rootfs.split(',')[0] ?? rootfs;
}

export async function createContainer(inputs: CreateInputs): Promise<LxcContainerData> {
  const { req, plan, settings, ops, containerDir } = inputs;
  const node = plan.node ?? settings.node;
  const storage = plan.storage ?? settings.storage;
  const data: LxcContainerData = { node, hooks: hooksToKeep(req.spec) };
  const save = (): void => saveProgress(containerDir, data);
  try {
    const templateName = baseTemplateName(`${req.record.id.slice(0, 24).replace(/[^A-Za-z0-9_-]/g, '_')}-${randomBytes(4).toString('hex')}`);
    data.templateStorage = settings.templateStorage;
    data.templateVolid = `${settings.templateStorage}:vztmpl/${templateName}`;
    save();
    const templateVolid = await step('upload base template', () => uploadBaseTemplate(ops, node, settings.templateStorage, templateName));
    const params = { ...plan.createParams, ostemplate: templateVolid, rootfs: `${storage}:0${plan.readonlyRoot ? ',ro=1' : ''}` };
    const vmid = await step('create CT', () => allocateAndCreate(ops, settings.vmidRange, (id) => ops.createCt(node, id, params)));
    data.vmid = vmid;
    save();
    await step('remove base template', () => ops.deleteVolume(node, settings.templateStorage, templateVolid));
    delete data.templateVolid;
    save();

    const volid = await step('read CT config', async () => rootfsVolid(await ops.ctConfig(node, vmid)));
    data.rootfsVolid = volid;
    const rootPath = await step('find rootfs volume', () => volumePath(settings.cliPath, volid));
    const idMap = isUnprivileged(plan) ? PROXMOX_DEFAULT_ID_MAP : undefined;
    await step('copy rootfs', () => copyRootfs(req.record.rootfs, rootPath, idMap));

    const monitorDir = monitorDirFor(vmid, containerDir);
    data.monitorDir = monitorDir;
    save();
    await step('prepare monitor', async () => {
      await ensureMonitorBase();
      await prepareMonitorDir(monitorDir, plan.process, idMap === undefined ? {} : { idMap });
    });
    await step('write raw lxc keys', () =>
      editGuestConf(guestConfPath(settings.pveDir, node, 'lxc', vmid), (conf) =>
        addRawLxcEntries(conf, [...plan.rawLxc, ...lxcConfigEntries(monitorDir, plan.process)].map(([key, value]) => ({ key, value }))),
      ),
    );
    await step('start CT', () => ops.startCt(node, vmid));
    data.monitorPid = await step('start monitor', () => spawnMonitor({ dir: monitorDir, name: String(vmid), lxcPath: settings.lxcPath }));
    save();

    const pid = await step('find CT init', async () => {
      const found = await initPid(settings.lxcPath, vmid);
      if (found === undefined) throw new Error(`lxc-info finds no running init for CT ${vmid}`);
      return found;
    });
    const state = hookStateJson(req.record, 'created', pid, vmid, node);
    const hooks = req.spec.hooks ?? {};
    await step('prestart hook', () => runHooks('prestart', hooks.prestart, state));
    await step('createRuntime hook', () => runHooks('createRuntime', hooks.createRuntime, state));
    if (req.pidFile !== undefined) await step('write pid file', () => writePidFile(req.pidFile ?? '', data.monitorPid ?? 0));
    return data;
  } catch (err) {
    await destroyContainer(data, settings, ops).catch(() => undefined);
    saveProgress(containerDir, {});
    throw err;
  }
}

function hooksToKeep(spec: Spec): NonNullable<LxcContainerData['hooks']> {
  const hooks = spec.hooks ?? {};
  return { poststart: hooks.poststart ?? [], poststop: hooks.poststop ?? [] };
}
