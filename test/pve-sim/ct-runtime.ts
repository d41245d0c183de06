/**
 * The simulator's CtRuntime on real LXC: state, start and stop through lxc-engine.ts, templates
 * through template.ts, volumes through volumes.ts. `lxcState` reads state with `lxc-info` directly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { CtRuntime, CtState } from './sim-context.js';
import type { SimNodePaths } from './types.js';
import { detectOstype, extractTemplate } from './template.js';
import { mountVolume, unmountTree } from './volumes.js';
import { ctStatus, startCt, stopCt } from './lxc-engine.js';

/** Running state and init PID of a CT (`lxc-info -s -p -H`), `stopped` when LXC does not know it. */
export async function lxcState(node: SimNodePaths, vmid: number): Promise<CtState> {
  if (!fs.existsSync(path.join(node.lxcPath, String(vmid), 'config'))) return { running: false };
  const r = await execa('lxc-info', ['-P', node.lxcPath, '-n', String(vmid), '-s', '-p', '-H'], { reject: false });
  if (r.exitCode !== 0) return { running: false };
  const [state = '', pid = ''] = r.stdout.split('\n').map((l) => l.trim());
  if (state !== 'RUNNING') return { running: false };
  return /^\d+$/.test(pid) ? { running: true, pid: Number(pid) } : { running: true };
}

export const lxcRuntime: CtRuntime = {
  state: (node, vmid) => ctStatus(vmid, { node }),
  start: (ctx, config) => startCt(config, ctx),
  stop: (node, vmid) => stopCt(vmid, { node }, { mode: 'kill' }),
  shutdown: (node, vmid, timeout, forceStop) => stopCt(vmid, { node }, { mode: 'shutdown', timeout, forceStop }),
  async extractTemplate(archive, rootDir, job) {
    const extracted = await extractTemplate(archive, rootDir, { unprivileged: job.unprivileged });
    const detection = await detectOstype(rootDir, job.vmid);
    for (const w of detection.warnings) job.warn(w);
    return extracted.oci ? { oci: extracted.oci, ostype: detection.ostype } : { ostype: detection.ostype };
  },
  async withRootfs(volumePath, target, fn) {
    await mountVolume(volumePath, target);
    try {
      return await fn();
    } finally {
      await unmountTree(target);
    }
  },
};
