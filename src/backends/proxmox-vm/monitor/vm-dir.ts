/**
 * A VM's folder under /run/proxrun-private/vm (settings.ts): the per-VM initrd QEMU boots, the three chardev sockets
 * (named by guest/qemu-args.ts), and the monitor's files. It is needed before the VMID is known
 * (the VM's `args` name the sockets), so it is named by a hash of the container's state folder:
 * two proxrun roots never share one, and the socket paths stay far below the 107-byte limit.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

export function vmDirFor(runBase: string, containerDir: string): string {
  return path.join(runBase, createHash('sha256').update(containerDir).digest('hex').slice(0, 20));
}

export const vmInitrdPath = (vmDir: string): string => path.join(vmDir, 'initrd.img');
/** The monitor's command socket: `start`, `signal N`. */
export const monitorSocketPath = (vmDir: string): string => path.join(vmDir, 'monitor.sock');
/** Written by the monitor once the guest waits at its start gate. */
export const readyFile = (vmDir: string): string => path.join(vmDir, 'ready');
/** The payload's exit status (digits), written by the monitor before it exits. */
export const exitStatusFile = (vmDir: string): string => path.join(vmDir, 'exit-status');
/** Why the monitor failed, one line, when it could not reach the guest. */
export const monitorErrorFile = (vmDir: string): string => path.join(vmDir, 'monitor-error');
