/**
 * Why a running CT cannot be seen from here. LXC's command socket is an abstract unix socket,
 * and abstract sockets belong to a network namespace: lxc-info, lxc-attach and the monitor reach
 * a CT only from the network namespace its lxc-start runs in (on Proxmox, the host's). A proxrun
 * started by an engine in a network namespace of its own (containerd in its own netns, say) sees
 * the CT running per Proxmox, yet LXC's tools answer that it is not running. When the process
 * holding the CT's command socket (its `lxc-start`) lives in another network namespace than this
 * process, that is the cause, and the message names it. Read only when a monitor has failed.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

/** LXC's default lxcpath, which `lxc-start` uses without `-P` (as Proxmox's pve-container@ unit runs it). */
const DEFAULT_LXC_PATH = '/var/lib/lxc';

/** The value of an option given as `-n V`, `-nV`, `--name V` or `--name=V`. */
function optionValue(argv: readonly string[], short: string, long: string): string | undefined {
  for (let i = 1; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    if (arg === short || arg === long) return argv[i + 1];
    if (arg.startsWith(`${long}=`)) return arg.slice(long.length + 1);
    if (arg.startsWith(short) && !arg.startsWith('--') && arg.length > short.length) return arg.slice(short.length);
  }
  return undefined;
}

/**
 * The pid of the process that holds CT `name`'s command socket: `lxc-start -F -n NAME [-P PATH]`
 * (how Proxmox and the simulator start CTs), or a daemonized one titled `[lxc monitor] PATH NAME`.
 */
async function lxcMonitorPid(name: string, lxcPath: string): Promise<number | undefined> {
  const wantedPath = path.resolve(lxcPath);
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').filter((arg) => arg !== '');
    } catch {
      continue; // gone meanwhile
    }
    if (argv.join(' ') === `[lxc monitor] ${wantedPath} ${name}`) return Number(entry);
    if (path.basename(argv[0] ?? '') !== 'lxc-start' || optionValue(argv, '-n', '--name') !== name) continue;
    if (path.resolve(optionValue(argv, '-P', '--lxcpath') ?? DEFAULT_LXC_PATH) === wantedPath) return Number(entry);
  }
  return undefined;
}

/**
 * A one-line reason when CT `name` runs in another network namespace than this process, which
 * is why LXC's tools cannot reach it from here; undefined when that is not the case.
 */
export async function unreachableCtReason(name: string, lxcPath: string): Promise<string | undefined> {
  const pid = await lxcMonitorPid(name, lxcPath);
  if (pid === undefined) return undefined;
  let theirs: string;
  let ours: string;
  try {
    [theirs, ours] = await Promise.all([readlink(`/proc/${pid}/ns/net`), readlink('/proc/self/ns/net')]);
  } catch {
    return undefined;
  }
  if (theirs === ours) return undefined;
  return `CT ${name} is running, but LXC's tools cannot reach it from proxrun's network namespace ${ours}: `
    + `its lxc-start (pid ${pid}) runs in ${theirs}, and LXC's command socket is an abstract unix socket, `
    + 'one per network namespace; run proxrun, and the engine that calls it, in the network namespace Proxmox starts CTs in (docs/kubernetes.md)';
}
