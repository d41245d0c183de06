/**
 * virtiofsd for a VM's `virtiofsN` shares, started before QEMU as qemu-server does: one daemon per
 * share, serving the mapping's directory on a vhost-user socket in the node's qemu-server run
 * folder (`<vmid>.virtiofsN`), its pid in `<vmid>.virtiofsN.pid`. Proxmox's own build is the Rust
 * virtiofsd at /usr/libexec/virtiofsd; Debian 12's QEMU ships the C one at
 * /usr/lib/qemu/virtiofsd, which takes its options differently. Stopped with the VM.
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { MAX_VIRTIOFS, vmRunPaths } from './qemu-cmdline.js';
import type { SimNodePaths } from './types.js';

const RUST_VIRTIOFSD = '/usr/libexec/virtiofsd';
const C_VIRTIOFSD = '/usr/lib/qemu/virtiofsd';
const SOCKET_WAIT_MS = 10_000;

export function findVirtiofsd(): string | undefined {
  return [RUST_VIRTIOFSD, C_VIRTIOFSD].find((file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function daemonArgs(binary: string, socket: string, directory: string, cache: string): string[] {
  if (binary === C_VIRTIOFSD) {
    // The C daemon knows auto, always and none.
    const mode = cache === 'never' ? 'none' : cache === 'always' ? 'always' : 'auto';
    return [`--socket-path=${socket}`, '-o', `source=${directory}`, '-o', `cache=${mode}`];
  }
  return ['--socket-path', socket, '--shared-dir', directory, '--cache', cache];
}

/** The pid in a share's pidfile when that process is still the virtiofsd serving its socket. */
function daemonPid(node: SimNodePaths, vmid: number, index: number): number | undefined {
  const run = vmRunPaths(node.qemuRunDir, vmid);
  try {
    const pid = Number(fs.readFileSync(run.virtiofsPid(index), 'utf8').trim());
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return argv.includes('virtiofsd') && argv.includes(run.virtiofs(index)) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Starts one daemon and waits until its socket exists; throws with its output when it ends first. */
export async function startVirtiofsd(node: SimNodePaths, vmid: number, share: { index: number; directory: string; cache: string }, log: (line: string) => void): Promise<void> {
  const binary = findVirtiofsd();
  if (binary === undefined) throw new Error(`virtiofs${share.index}: no virtiofsd on this node (install Debian package virtiofsd)`);
  const run = vmRunPaths(node.qemuRunDir, vmid);
  const socket = run.virtiofs(share.index);
  fs.rmSync(socket, { force: true });
  const child = spawn(binary, daemonArgs(binary, socket, share.directory, share.cache), { stdio: ['ignore', 'ignore', 'pipe'], detached: true, cwd: '/' });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
  let exited = false;
  child.once('exit', () => { exited = true; });
  child.once('error', (error) => { stderr += error.message; exited = true; });
  if (child.pid !== undefined) fs.writeFileSync(run.virtiofsPid(share.index), `${child.pid}\n`);
  const deadline = Date.now() + SOCKET_WAIT_MS;
  while (!fs.existsSync(socket)) {
    if (exited || Date.now() >= deadline) {
      stopVirtiofsds(node, vmid);
      throw new Error(`virtiofs${share.index}: virtiofsd did not start: ${stderr.trim() || (exited ? 'it exited' : 'no socket')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Its log is not kept: stop reading so the simulator holds nothing of it.
  child.stderr.destroy();
  child.unref();
  log(`virtiofs${share.index}: started ${binary} for ${share.directory}`);
}

/** Ends every virtiofsd of the VM and removes their sockets and pidfiles. */
export function stopVirtiofsds(node: SimNodePaths, vmid: number): void {
  const run = vmRunPaths(node.qemuRunDir, vmid);
  for (let index = 0; index < MAX_VIRTIOFS; index += 1) {
    const pid = daemonPid(node, vmid, index);
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone meanwhile
      }
    }
    fs.rmSync(run.virtiofs(index), { force: true });
    fs.rmSync(run.virtiofsPid(index), { force: true });
  }
}
