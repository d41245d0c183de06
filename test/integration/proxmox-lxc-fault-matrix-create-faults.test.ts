/** The proxmox-lxc fault matrix, part "create-faults" (test/helpers/lxc-fault-matrix.ts says what it checks and why it is split). */
import { lxcFaultMatrix } from '../helpers/lxc-fault-matrix.js';

lxcFaultMatrix('proxmox-lxc: error and hang at every Proxmox step of create (and start, which makes none)', [662000, 662999], [['create', 'error'], ['create', 'hang']]);
