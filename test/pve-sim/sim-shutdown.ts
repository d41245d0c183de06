/** Stopping everything the simulator runs: every running CT of every node, its mounts, LXC's monitor daemons. */
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

/** PIDs of `lxc-monitord LXCPATH ...` processes (LXC forks one per lxcpath for lxc-monitor and lxc-wait). */
export function monitordPids(lxcPaths: readonly string[]): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if ((argv[0] ?? '').endsWith('lxc-monitord') && lxcPaths.includes(argv[1] ?? '')) pids.push(Number(entry));
    } catch {
      // the process went away
    }
  }
  return pids;
}

/** Ends the monitor daemons of the simulator's LXC paths, which would otherwise outlive it. */
export async function stopMonitords(ctx: SimContext): Promise<void> {
  const paths = ctx.nodes.map((n) => ctx.nodePaths(n).lxcPath);
  for (const pid of monitordPids(paths)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 5000;
  while (monitordPids(paths).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
