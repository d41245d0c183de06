/**
 * The `proxmox` section of the proxrun config as the proxmox-lxc backend uses
 * it: defaults filled in, and every value it needs checked, each problem
 * naming the config key.
 */
import fs from 'node:fs';
import path from 'node:path';
import { proxmoxDefaults, type ProxmoxNodeSettings } from '../../proxmox/settings.js';
import type { ProxrunConfig } from '../../runtime/config.js';

export interface LxcBackendSettings extends ProxmoxNodeSettings {
  /** `directory`: a size=0 volume filled by copy on this node; `archive`: an OCI image archive uploaded as a vztmpl. */
  readonly rootfsDelivery: 'directory' | 'archive';
}

/** Settings with defaults (a real node's, when the config has no proxmox section), or one-line problems naming the `proxmox.*` key. */
export function resolveSettings(config: ProxrunConfig): { settings?: LxcBackendSettings; problems: string[] } {
  const settings: LxcBackendSettings = { ...proxmoxDefaults(config), rootfsDelivery: config.proxmox?.rootfsDelivery ?? 'directory' };
  const problems: string[] = [];
  const [low, high] = settings.vmidRange;
  if (low > high) problems.push(`proxrun config: proxmox.vmidRange: lowest ${low} is above highest ${high}`);
  // lxcPath and pveDir are read on this node whatever the transport; cliPath only matters for `cli`.
  const localDirs: Array<readonly [string, string]> = [['lxcPath', settings.lxcPath], ['pveDir', settings.pveDir]];
  if (settings.transport === 'cli') localDirs.push(['cliPath', settings.cliPath]);
  for (const [key, dir] of localDirs) {
    if (!path.isAbsolute(dir)) problems.push(`proxrun config: proxmox.${key}: ${JSON.stringify(dir)} is not an absolute path`);
    else if (!isDirectory(dir)) problems.push(`proxrun config: proxmox.${key}: ${dir} is not a directory on this node`);
  }
  if (settings.rootfsDelivery !== 'directory' && settings.rootfsDelivery !== 'archive') {
    problems.push(`proxrun config: proxmox.rootfsDelivery: ${JSON.stringify(settings.rootfsDelivery)} is neither "directory" nor "archive"`);
  }
  if (settings.transport === 'cli' && isDirectory(settings.cliPath)) {
    for (const tool of ['pct', 'pvesm']) {
      if (!isExecutable(path.join(settings.cliPath, tool))) problems.push(`proxrun config: proxmox.cliPath: ${settings.cliPath} has no executable ${tool}`);
    }
  }
  return problems.length > 0 ? { problems } : { settings, problems };
}

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
