/** The proxmox-vm fault matrix, part "delete-kill" (test/helpers/vm-fault-matrix.ts says what it checks and why it is split). */
import { vmFaultMatrix } from '../helpers/vm-fault-matrix.js';

vmFaultMatrix('proxmox-vm: drop and SIGKILL at every Proxmox step of delete', [874000, 874999], [['delete', 'drop'], ['delete', 'SIGKILL']]);
