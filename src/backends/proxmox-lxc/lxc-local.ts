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

/**
 * The folders of a process's cgroup that list its processes and freeze it: on a cgroup v2 host
 * the unified folder; on a hybrid or v1 host the freezer hierarchy first (it is what LXC freezes),
 * then pids, then the unified one. Mount points come from /proc/self/mountinfo.
 */
export async function cgroupDirOf(pid: number): Promise<string | undefined> {
  let membership: string;
  let mountinfo: string;
  try {
    membership = await readFile(`/proc/${pid}/cgroup`, 'utf8');
    mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  const mounts = mountinfo.split('\n').map((line) => {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    return { point: fields[4] ?? '', fstype: fields[dash + 1] ?? '', options: (fields[dash + 3] ?? '').split(',') };
  });
  const v1Mount = (controller: string): string | undefined => mounts.find((m) => m.fstype === 'cgroup' && m.options.includes(controller))?.point;
  const v2Mount = mounts.find((m) => m.fstype === 'cgroup2')?.point;
  const paths = new Map<string, string>();
  for (const line of membership.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m?.[1] === undefined || m[2] === undefined) continue;
    for (const controller of m[1] === '' ? ['<unified>'] : m[1].split(',')) paths.set(controller, m[2]);
  }
  const candidates: Array<[string | undefined, string | undefined]> = [
    [v1Mount('freezer'), paths.get('freezer')],
    [v1Mount('pids'), paths.get('pids')],
    [v2Mount, paths.get('<unified>')],
  ];
  for (const [mount, rel] of candidates) {
    if (mount === undefined || rel === undefined) continue;
    const dir = path.join(mount, rel);
    try {
      if ((await readFile(path.join(dir, 'cgroup.procs'), 'utf8')).split('\n').includes(String(pid))) return dir;
    } catch {
      // not this hierarchy
    }
  }
  return undefined;
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

/** Whether a cgroup folder is frozen: v1 `freezer.state` FROZEN, or v2 `cgroup.events` `frozen 1`. */
export async function isFrozen(dir: string): Promise<boolean> {
  try {
    return (await readFile(path.join(dir, 'freezer.state'), 'utf8')).trim() === 'FROZEN';
  } catch {
    try {
      return /^frozen 1$/m.test(await readFile(path.join(dir, 'cgroup.events'), 'utf8'));
    } catch {
      return false;
    }
  }
}
