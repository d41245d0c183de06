/**
 * The `proxmox` section of the proxrun config as the proxmox-lxc backend uses it: the one resolver
 * of src/proxmox/settings.ts (schema defaults, problems naming the key), plus what this backend
 * needs on the node: lxcPath and pveDir (read locally whatever the transport: LXC facts, raw keys),
 * and for the CLI transport `pct` and `pvesm` in cliPath.
 */
import { nodeProblems, resolveProxmoxSettings, type ProxmoxNodeSettings } from '../../proxmox/settings.js';
import type { ProxrunConfig } from '../../runtime/config.js';

export type LxcBackendSettings = ProxmoxNodeSettings;

/** Settings with defaults (a real node's, when the config has no proxmox section), or one-line problems naming the `proxmox.*` key. */
export function resolveSettings(config: ProxrunConfig): { settings?: LxcBackendSettings; problems: string[] } {
  const { settings, problems } = resolveProxmoxSettings(config);
  if (settings === undefined) return { problems };
  const cli = settings.transport === 'cli';
  const needs = nodeProblems(settings, { dirs: ['lxcPath', 'pveDir', ...(cli ? (['cliPath'] as const) : [])], tools: cli ? ['pct', 'pvesm'] : [] });
  return needs.length > 0 ? { problems: needs } : { settings, problems };
}
