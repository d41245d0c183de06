/** Stopping everything the simulator runs: every running CT of every node, then its mounts. */
import fs from 'node:fs';
import path from 'node:path';
import type { SimContext } from './sim-context.js';
import { unmountTree } from './volumes.js';

export async function stopAllContainers(ctx: SimContext): Promise<void> {
  for (const node of ctx.nodes) {
    const paths = ctx.nodePaths(node);
    const dirs = fs.existsSync(paths.lxcPath) ? fs.readdirSync(paths.lxcPath).filter((d) => /^\d+$/.test(d)) : [];
    for (const dir of dirs) {
      const vmid = Number(dir);
      if ((await ctx.runtime.state(paths, vmid)).running) await ctx.runtime.stop(paths, vmid);
      await unmountTree(path.join(paths.lxcPath, dir, 'rootfs'));
    }
  }
}
