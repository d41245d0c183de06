/** The proxmox-vm fault matrix, part "create-faults" (test/helpers/vm-fault-matrix.ts says what it checks and why it is split). */
import { vmFaultMatrix } from '../helpers/vm-fault-matrix.js';

vmFaultMatrix('proxmox-vm: error and hang at every Proxmox step of create (and start, which makes none)', [872000, 872999], [['create', 'error'], ['create', 'hang']]);
