/** The Proxmox client for the configured transport; a bad setting is one line naming the key. */
import { createProxmoxClient } from '../../proxmox/index.js';
import type { ProxrunConfig } from '../../runtime/config.js';
import { RuntimeError } from '../../runtime/errors.js';
import type { PveOps } from './pve-ops.js';

export function openPveOps(config: ProxrunConfig): PveOps {
  try {
    return createProxmoxClient(config.proxmox);
  } catch (err) {
    throw new RuntimeError('InvalidConfig', (err as Error).message);
  }
}
