/**
 * Which kernel the VM boots and where its modules are: `proxmox.vm.kernel`
 * names a vmlinuz; by default the newest `/boot/vmlinuz-*-cloud-amd64`
 * (Debian's linux-image-cloud-amd64). The modules dir is
 * `/lib/modules/VERSION`, VERSION being the file name after `vmlinuz-`.
 */
import { access, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';

export interface GuestKernel {
  /** Absolute path of the vmlinuz QEMU loads with -kernel. */
  readonly kernelPath: string;
  /** Kernel release ("6.1.0-56-cloud-amd64"). */
  readonly version: string;
  /** Where modules.dep and the module files are. */
  readonly modulesDir: string;
}

export const DEFAULT_KERNEL_DIR = '/boot';
export const DEFAULT_KERNEL_PATTERN = /^vmlinuz-(.+-cloud-amd64)$/;

/** Orders kernel releases the way humans do: 6.1.0-10 before 6.1.0-9 is wrong, so numbers compare as numbers. */
function compareReleases(left: string, right: string): number {
  return left.localeCompare(right, 'en', { numeric: true });
}

export interface LocateKernelOptions {
  /** The configured vmlinuz (`proxmox.vm.kernel`); without it the newest cloud kernel in /boot. */
  readonly kernelPath?: string;
  /** Where module trees live; default /lib/modules. */
  readonly modulesRoot?: string;
  /** Where to look for the default kernel; default /boot. */
  readonly kernelDir?: string;
}

export async function locateGuestKernel(options: LocateKernelOptions = {}): Promise<GuestKernel> {
  const modulesRoot = options.modulesRoot ?? '/lib/modules';
  let kernelPath = options.kernelPath;
  if (kernelPath === undefined) {
    const dir = options.kernelDir ?? DEFAULT_KERNEL_DIR;
    const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => DEFAULT_KERNEL_PATTERN.test(name));
    const newest = names.sort(compareReleases).at(-1);
    if (newest === undefined) {
      throw new Error(`no ${dir}/vmlinuz-*-cloud-amd64: install Debian package linux-image-cloud-amd64 or set proxmox.vm.kernel`);
    }
    kernelPath = join(dir, newest);
  }
  const match = /^vmlinuz-(.+)$/.exec(basename(kernelPath));
  if (!match?.[1]) throw new Error(`proxmox.vm.kernel must name a file called vmlinuz-VERSION: ${kernelPath}`);
  try {
    await access(kernelPath);
  } catch {
    throw new Error(`guest kernel ${kernelPath} not found (proxmox.vm.kernel)`);
  }
  return { kernelPath, version: match[1], modulesDir: join(modulesRoot, match[1]) };
}
