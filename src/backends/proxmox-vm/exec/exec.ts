/**
 * `exec` on a proxmox-vm container: refused. The guest's control channel carries exactly one
 * process (the bundle's), and the VM has no guest agent through which a second could be started
 * (docs/proxmox-vm.md, "exec"). This folder mirrors proxmox-lxc's exec/, which runs execs through
 * lxc-attach, so that where each backend answers `exec` is found in the same place.
 */
import { errUnsupported, type RuntimeError } from '../../../runtime/errors.js';

export const EXEC_REFUSAL = 'proxmox-vm: exec is not supported: the guest\'s control channel carries exactly one process (the bundle\'s) and the VM has no guest agent to start another (docs/proxmox-vm.md, "exec"); run a second container instead';

export function execRefused(): RuntimeError {
  return errUnsupported(EXEC_REFUSAL);
}
