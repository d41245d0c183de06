/**
 * What this node's LXC says about a CT, read locally (no Proxmox round trip):
 * the init's host pid (`lxc-info -p -H`, the source Proxmox's find_lxc_pid
 * uses), the CT's cgroup and the processes in it, and whether it is frozen.
 */
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CGROUP_ROOT = '/sys/fs/cgroup';

/** The CT init's host pid, or undefined when the CT is not running. */
export async function initPid(lxcPath: string, vmid: number): Promise<number | undefined> {
  try {
    const { stdout } = await run('lxc-info', ['-P', lxcPath, '-n', String(vmid), '-p', '-H'], { encoding: 'utf8', timeout: 10_000 });
    const pid = Number.parseInt(stdout.trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The cgroup v2 folder of a process, or undefined when it is gone. */
export async function cgroupDirOf(pid: number): Promise<string | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
    const unified = text.split('\n').find((line) => line.startsWith('0::'));
    return unified === undefined ? undefined : path.join(CGROUP_ROOT, unified.slice(3));
  } catch {
    return undefined;
  }
}

/** Every pid in a cgroup and the cgroups below it. */
export async function cgroupPids(dir: string): Promise<number[]> {
  const pids: number[] = [];
  try {
    const text = await readFile(path.join(dir, 'cgroup.procs'), 'utf8');
    for (const line of text.split('\n')) if (line.trim() !== '') pids.push(Number(line));
  } catch {
    return pids;
  }
  let entries: import('node:fs').Dirent[] = [];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return pids;
  }
  for (const entry of entries) if (entry.isDirectory()) pids.push(...(await cgroupPids(path.join(dir, entry.name))));
  return pids;
}

/** Whether a cgroup v2 folder is frozen (`cgroup.events` says `frozen 1`). */
export async function isFrozen(dir: string): Promise<boolean> {
  try {
    return /^frozen 1$/m.test(await readFile(path.join(dir, 'cgroup.events'), 'utf8'));
  } catch {
    return false;
  }
}
