/**
 * The part of the Proxmox client this backend uses: all of it, either transport (a volume's host
 * path included, which both transports ask Proxmox for). The named-step wrapper lives in
 * src/proxmox/step.ts.
 */
import type { ProxmoxClient } from '../../proxmox/client.js';

/** The client this backend talks to (either transport). */
export type PveOps = ProxmoxClient;
