/**
 * The `proxmox` section of the proxrun config with a real node's defaults filled in,
 * shared by the Proxmox backends: with no section at all, proxrun on a Proxmox VE
 * node drives that node through its own CLI.
 */
import os from 'node:os';
import type { ProxrunConfig } from '../runtime/config.js';

export const DEFAULT_VMID_RANGE: readonly [number, number] = [100000, 199999];

export interface ProxmoxNodeSettings {
  readonly transport: 'cli' | 'api';
  readonly node: string;
  readonly storage: string;
  readonly templateStorage: string;
  readonly cliPath: string;
  readonly lxcPath: string;
  readonly pveDir: string;
  readonly vmidRange: readonly [number, number];
  readonly timeoutSeconds: number;
}

export function proxmoxDefaults(config: ProxrunConfig): ProxmoxNodeSettings {
  const pve = config.proxmox ?? {};
  return {
    transport: pve.transport ?? 'cli',
    node: pve.node ?? os.hostname().split('.')[0] ?? 'localhost',
    storage: pve.storage ?? 'local',
    templateStorage: pve.templateStorage ?? pve.storage ?? 'local',
    cliPath: pve.cliPath ?? '/usr/sbin',
    lxcPath: pve.lxcPath ?? '/var/lib/lxc',
    pveDir: pve.pveDir ?? '/etc/pve',
    vmidRange: pve.vmidRange ?? DEFAULT_VMID_RANGE,
    timeoutSeconds: pve.timeoutSeconds ?? 120,
  };
}
