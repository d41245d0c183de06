/** The proxmox-lxc fault matrix, part "delete" (test/helpers/lxc-fault-matrix.ts says what it checks and why it is split). */
import { lxcFaultMatrix } from '../helpers/lxc-fault-matrix.js';

lxcFaultMatrix('proxmox-lxc: error, hang, drop and SIGKILL at every Proxmox step of delete', [664000, 664999], [['delete', 'error'], ['delete', 'hang'], ['delete', 'drop'], ['delete', 'SIGKILL']]);
