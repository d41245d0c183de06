/**
 * Starts a VM's monitor (vm-monitor-main.ts) as its own Node process: in a session of its own
 * (so the engine's process group signals do not reach it by accident), with proxrun's fds 1 and 2
 * (the engine's pipes) and /dev/null as stdin, and the VM folder on its command line, which is
 * how `isVmMonitor` recognises it later. The module is found through its own URL, so this works
 * from the bundle (where it is a chunk of its own) and from the sources under tsx alike.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

const LOADER = 'const [, moduleUrl, ...rest] = process.argv; await (await import(moduleUrl)).runVmMonitor(rest);';

export async function spawnVmMonitor(vmDir: string): Promise<number> {
  const { VM_MONITOR_MODULE } = await import('./vm-monitor-main.js');
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', LOADER, VM_MONITOR_MODULE, vmDir], {
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const pid = child.pid;
  if (pid === undefined) {
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`cannot start the VM monitor: ${error.message}`);
  }
  child.unref();
  return pid;
}

/** Whether `pid` is a live (not zombie) monitor of `vmDir`, so a reused pid is never mistaken for it. */
export async function isVmMonitor(pid: number, vmDir: string): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && cmdline.split('\0').includes(vmDir);
  } catch {
    return false;
  }
}

/** SIGKILLs the monitor (the session leader) if it still is one. */
export async function killVmMonitor(pid: number, vmDir: string): Promise<void> {
  if (!(await isVmMonitor(pid, vmDir))) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}
