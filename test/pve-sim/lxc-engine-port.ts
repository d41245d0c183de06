/**
 * Start, stop and shutdown of containers, delegated to lxc-engine.ts (the part that runs them with
 * real LXC). Kept apart so the rest of the simulator builds while that module is being written.
 */
import type { CtStartContext, PveGuestConfig, SimNodePaths } from './types.js';

const MISSING = 'the LXC engine (test/pve-sim/lxc-engine.ts) is not part of this build';

export async function startCt(_ctx: CtStartContext, _config: PveGuestConfig): Promise<void> {
  throw new Error(MISSING);
}
export async function stopCt(_node: SimNodePaths, _vmid: number): Promise<void> {
  throw new Error(MISSING);
}
export async function shutdownCt(_node: SimNodePaths, _vmid: number, _timeoutS: number, _forceStop: boolean): Promise<void> {
  throw new Error(MISSING);
}
