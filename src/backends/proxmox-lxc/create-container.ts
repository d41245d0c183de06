/**
 * `create` on Proxmox: the CT with the bundle's rootfs (rootfs-delivery.ts, in
 * a VMID from the range), the monitor folder and its raw `lxc.*` keys,
 * `pct start` (the app is held at the start FIFO), the monitor, the create
 * hooks (prestart, createRuntime, then createContainer inside the CT:
 * container-hooks.ts), and last the pid file. Progress is saved as each piece exists; on
 * failure everything made is destroyed and the error names the step.
 */
import { lxcConfigEntries, prepareMonitorDir, PROXMOX_DEFAULT_ID_MAP, reachableBindEntries, spawnMonitor } from '../../monitor/index.js';
import type { Spec } from '../../oci/spec.js';
import { addRawLxcEntries, editGuestConf, guestConfPath, removeRawLxcEntries } from '../../proxmox/conf-file.js';
import type { CreateRequest } from '../../runtime/backend.js';
import type { CtPlan } from './translate/ct-plan.js';
import { saveProgress, type LxcContainerData } from './container-data.js';
import { destroyContainer } from './destroy-container.js';
import { hookStateJson } from './hook-state.js';
import { runHooks } from '../shared/hooks.js';
import { runCreateContainerHooks } from './container-hooks.js';
import { initPid } from './lxc-local.js';
import { ensureMonitorBase, monitorDirFor } from './monitor/monitor-location.js';
import { writePidFile } from '../../runtime/pid-file.js';
import { step } from '../../proxmox/step.js';
import type { PveOps } from './pve-ops.js';
import { deliverRootfs, isUnprivileged } from './rootfs/rootfs-delivery.js';
import type { LxcBackendSettings } from './settings.js';

export interface CreateInputs {
  readonly req: CreateRequest;
  readonly plan: CtPlan;
  readonly settings: LxcBackendSettings;
  readonly ops: PveOps;
  readonly containerDir: string;
}

/**
 * Single-valued raw keys proxrun sets. An OCI import writes some of them from the image config
 * (init uid/gid/cwd, signal.halt); the old values go so that exactly one of each remains.
 */
const SINGLE_VALUED_KEYS = ['lxc.init.cmd', 'lxc.init.uid', 'lxc.init.gid', 'lxc.init.groups', 'lxc.init.cwd', 'lxc.signal.halt'];

export async function createContainer(inputs: CreateInputs): Promise<LxcContainerData> {
  const { req, plan, settings, ops, containerDir } = inputs;
  const node = plan.node ?? settings.node;
  const storage = plan.storage ?? settings.storage;
  const data: LxcContainerData = { node, hooks: hooksToKeep(req.spec) };
  const save = (): void => saveProgress(containerDir, data);
  try {
    const vmid = await deliverRootfs({ req, plan, settings, ops, node, storage, data, save });
    const idMap = isUnprivileged(plan) ? PROXMOX_DEFAULT_ID_MAP : undefined;
    const monitorDir = monitorDirFor(vmid, containerDir);
    data.monitorDir = monitorDir;
    save();
    await step('prepare monitor', async () => {
      await ensureMonitorBase();
      // `run` attached: the app reads proxrun's stdin through the monitor's relay.
      await prepareMonitorDir(monitorDir, plan.launch, { ...(idMap === undefined ? {} : { idMap }), stdin: req.attachStdin === true });
    });
    // File binds the CT's root cannot reach (podman's runroot files) go through the monitor folder.
    const mounts = await step('prepare monitor', () => reachableBindEntries(monitorDir, plan.rawLxc, idMap));
    const entries = [...mounts, ...lxcConfigEntries(monitorDir)];
    const replaced = SINGLE_VALUED_KEYS.filter((key) => entries.some(([k]) => k === key));
    await step('write raw lxc keys', () =>
      editGuestConf(guestConfPath(settings.pveDir, node, 'lxc', vmid), (conf) =>
        addRawLxcEntries(removeRawLxcEntries(conf, replaced), entries.map(([key, value]) => ({ key, value }))),
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
    // Inside the CT's namespaces with the host's root: the pid stays the host's, which is what its /proc shows.
    await step('createContainer hook', () => runCreateContainerHooks(hooks.createContainer, { initPid: pid, monitorDir }, state));
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
