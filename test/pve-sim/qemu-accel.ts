/**
 * Which accelerator the simulator's VMs get. KVM only when it really runs a guest: `/dev/kvm` must
 * open read-write and a host kernel (newest `/boot/vmlinuz-*`) booted under `-accel kvm` must print
 * its `Linux version` banner on the serial line within a few seconds (a paravirtual /dev/kvm that
 * cannot run a stock guest prints nothing). Otherwise TCG. Probed once per daemon.
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import type { Accel } from './qemu-cmdline.js';

export interface AccelChoice {
  accel: Accel;
  /** Why, for the start task's log. */
  reason: string;
}

const PROBE_MS = 6000;
let cached: Promise<AccelChoice> | undefined;

function newestKernel(): string | undefined {
  if (!fs.existsSync('/boot')) return undefined;
  const found = fs.readdirSync('/boot').filter((f) => /^vmlinuz-/.test(f)).sort();
  const last = found[found.length - 1];
  return last === undefined ? undefined : `/boot/${last}`;
}

function kvmBoots(kernel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('qemu-system-x86_64', ['-accel', 'kvm', '-nodefaults', '-no-user-config', '-display', 'none', '-machine', 'pc', '-m', '128', '-kernel', kernel, '-append', 'console=ttyS0 panic=-1', '-serial', 'stdio', '-no-reboot'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), PROBE_MS);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('latin1');
      if (out.includes('Linux version')) finish(true);
    });
    child.on('error', () => finish(false));
    child.on('exit', () => finish(out.includes('Linux version')));
  });
}

async function probe(): Promise<AccelChoice> {
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
  } catch (err) {
    return { accel: 'tcg', reason: `KVM not usable (/dev/kvm: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): using TCG (software emulation)` };
  }
  const kernel = newestKernel();
  if (kernel === undefined) return { accel: 'tcg', reason: 'no host kernel in /boot to probe KVM with: using TCG (software emulation)' };
  if (await kvmBoots(kernel)) return { accel: 'kvm', reason: `KVM works (${kernel} booted under -accel kvm): using KVM` };
  return { accel: 'tcg', reason: `KVM not usable (/dev/kvm opens but ${kernel} printed nothing under -accel kvm within ${PROBE_MS / 1000} s): using TCG (software emulation)` };
}

/** The accelerator for VMs, probed at the first call. */
export function chooseAccel(): Promise<AccelChoice> {
  cached ??= probe();
  return cached;
}
