/** The proxmox-lxc fault matrix, part "create-kill" (test/helpers/lxc-fault-matrix.ts says what it checks and why it is split). */
import { lxcFaultMatrix } from '../helpers/lxc-fault-matrix.js';

lxcFaultMatrix('proxmox-lxc: drop and SIGKILL at every Proxmox step of create', [663000, 663999], [['create', 'drop'], ['create', 'SIGKILL']]);
