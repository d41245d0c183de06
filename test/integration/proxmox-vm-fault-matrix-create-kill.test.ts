/** The proxmox-vm fault matrix, part "create-kill" (test/helpers/vm-fault-matrix.ts says what it checks and why it is split). */
import { vmFaultMatrix } from '../helpers/vm-fault-matrix.js';

vmFaultMatrix('proxmox-vm: drop and SIGKILL at every Proxmox step of create', [875000, 875999], [['create', 'drop'], ['create', 'SIGKILL']]);
