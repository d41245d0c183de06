/**
 * Create waits until the guest has booted to its start gate, which the monitor says by writing
 * `ready`; a monitor that ends first (QEMU died, the sockets never came) fails the wait with
 * the monitor's own reason. Polls with a deadline.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isVmMonitor } from './monitor-spawn.js';
import { exitStatusFile, monitorErrorFile, readyFile } from './vm-dir.js';

const POLL_MS = 25;

function monitorReason(vmDir: string): string {
  try {
    return readFileSync(monitorErrorFile(vmDir), 'utf8').trim();
  } catch {
    return 'no reason recorded';
  }
}

export async function waitForGate(vmDir: string, monitorPid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(readyFile(vmDir))) return;
    if (existsSync(exitStatusFile(vmDir)) || !(await isVmMonitor(monitorPid, vmDir))) {
      throw new Error(`the guest ended before reaching its start gate: ${monitorReason(vmDir)}`);
    }
    if (Date.now() >= deadline) throw new Error(`the guest did not reach its start gate within ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
