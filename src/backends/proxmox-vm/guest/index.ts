/**
 * The proxmox-vm backend's guest side: what boots inside the VM and how the
 * host talks to it. See docs/proxmox-vm-guest.md.
 */
export { locateGuestKernel, type GuestKernel, type LocateKernelOptions } from './guest-kernel.js';
export { ensureBaseInitramfs, writeVmInitrd, specArchive, DEFAULT_GUEST_BUSYBOX, type BaseInitramfs, type BaseInitramfsOptions } from './initramfs.js';
export { renderGuestInit } from './guest-init.js';
export { renderGuestSpec, checkGuestSpec, DEFAULT_ROOT_DEVICE, GUEST_RLIMIT_FLAGS, type GuestSpec, type GuestRlimit, type GuestShare } from './guest-spec.js';
export {
  guestQemuArgs, formatArgsLine, splitArgsLine, quoteArgWord, kernelCommandLine, portSocketPath, portSocketPaths,
  KERNEL_COMMAND_LINE_LIMIT, SERIAL_CONTROLLER_ID, type GuestBootFiles,
} from './qemu-args.js';
export { GuestChannel, type GuestChannelOptions, type GuestExit } from './host-channel.js';
export { PORT_NAMES, PORT_ROLES, GUEST_FAILURE_STATUS, parseGuestLine, type GuestMessage, type PortRole } from './channel-protocol.js';
export { resolveGuestModules, REQUIRED_GUEST_MODULES, OPTIONAL_GUEST_MODULES, type GuestModule } from './kernel-modules.js';
export { writeCpioNewc, type CpioEntry } from './cpio-newc.js';
