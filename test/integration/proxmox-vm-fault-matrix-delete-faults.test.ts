/** The proxmox-vm fault matrix, part "delete-faults" (test/helpers/vm-fault-matrix.ts says what it checks and why it is split). */
import { vmFaultMatrix } from '../helpers/vm-fault-matrix.js';

vmFaultMatrix('proxmox-vm: error and hang at every Proxmox step of delete', [873000, 873999], [['delete', 'error'], ['delete', 'hang']]);
