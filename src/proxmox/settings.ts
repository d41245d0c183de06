/**
 * The one resolver of proxrun's `proxmox` config section, used by both Proxmox backends and both
 * transports: the defaults come from schemas/proxrun-config.schema.json (generated constants), the
 * node defaults to this host's name, and the rules the schema cannot express are checked here, each
 * problem one line naming the `proxmox.*` key. The schema's own rules (types, ranges, patterns)
 * were checked when the config file was read (runtime/config.ts) and are not repeated.
 * With no `proxmox` section at all, proxrun on a Proxmox VE node drives that node through its CLI.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROXMOX_SETTINGS_DEFAULTS, PROXMOX_VM_SETTINGS_DEFAULTS } from '../oci/generated/proxrun-config-constants.js';
import type { ProxrunConfig } from '../oci/spec.js';

export interface ProxmoxApiSettings {
  /** `https://host:port/api2/json`. */
  readonly base: URL;
  readonly tokenId: string;
  readonly tokenSecretFile: string;
  readonly fingerprint?: string;
  readonly caFile?: string;
}

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
  readonly rootfsDelivery: 'directory' | 'archive';
  /** Present for transport `api`. */
  readonly api?: ProxmoxApiSettings;
  readonly vm: {
    /** undefined: the newest /boot/vmlinuz-*-cloud-amd64. */
    readonly kernel?: string;
    /** VM memory in MiB when the bundle sets no memory limit. */
    readonly memoryMiB: number;
    /** VM cores when the bundle sets no CPU quota. */
    readonly cores: number;
  };
}

export const DEFAULT_VMID_RANGE: readonly [number, number] = PROXMOX_SETTINGS_DEFAULTS.vmidRange;

const NODE_NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;

/** `https://host:8006` or `https://host:8006/api2/json` -> the latter; throws one line naming apiUrl. */
export function apiBaseUrl(apiUrl: string): URL {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new Error(`proxrun config: proxmox.apiUrl ${JSON.stringify(apiUrl)} is not a URL`);
  }
  if (url.protocol !== 'https:') throw new Error('proxrun config: proxmox.apiUrl must start with https://');
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new Error('proxrun config: proxmox.apiUrl must not hold credentials, a query or a fragment');
  }
  const trimmed = url.pathname.replace(/\/+$/, '');
  url.pathname = trimmed.endsWith('/api2/json') ? trimmed : `${trimmed}/api2/json`;
  return url;
}

function resolveApi(section: NonNullable<ProxrunConfig['proxmox']>, problems: string[]): ProxmoxApiSettings | undefined {
  const missing = (['apiUrl', 'tokenId', 'tokenSecretFile'] as const).filter((key) => section[key] === undefined || section[key] === '');
  for (const key of missing) problems.push(`proxrun config: proxmox.${key} is required for transport "api"`);
  if (missing.length > 0) return undefined;
  let base: URL;
  try {
    base = apiBaseUrl(section.apiUrl ?? '');
  } catch (err) {
    problems.push((err as Error).message);
    return undefined;
  }
  return {
    base,
    tokenId: section.tokenId ?? '',
    tokenSecretFile: section.tokenSecretFile ?? '',
    ...(section.fingerprint !== undefined ? { fingerprint: section.fingerprint } : {}),
    ...(typeof section.caFile === 'string' ? { caFile: section.caFile } : {}),
  };
}

/** The settings with defaults filled in, or every problem found, one line each. */
export function resolveProxmoxSettings(config: ProxrunConfig, hostName: string = os.hostname()): { settings?: ProxmoxNodeSettings; problems: string[] } {
  const section = config.proxmox ?? {};
  const problems: string[] = [];
  const defaults = PROXMOX_SETTINGS_DEFAULTS;
  const node = section.node ?? hostName.split('.')[0] ?? '';
  if (!NODE_NAME.test(node)) {
    problems.push(section.node === undefined
      ? `proxrun config: proxmox.node is not set and this host's name ${JSON.stringify(node)} is not a valid node name; set proxmox.node`
      : `proxrun config: proxmox.node ${JSON.stringify(node)} is not a valid node name`);
  }
  const vmidRange = section.vmidRange ?? defaults.vmidRange;
  if (vmidRange[0] > vmidRange[1]) problems.push(`proxrun config: proxmox.vmidRange: lowest ${vmidRange[0]} is above highest ${vmidRange[1]}`);
  const transport = section.transport ?? defaults.transport;
  const api = transport === 'api' ? resolveApi(section, problems) : undefined;
  const storage = section.storage ?? defaults.storage;
  const vm = section.vm ?? {};
  const settings: ProxmoxNodeSettings = {
    transport,
    node,
    storage,
    templateStorage: section.templateStorage ?? storage,
    cliPath: section.cliPath ?? defaults.cliPath,
    lxcPath: section.lxcPath ?? defaults.lxcPath,
    pveDir: section.pveDir ?? defaults.pveDir,
    vmidRange: [vmidRange[0], vmidRange[1]],
    timeoutSeconds: section.timeoutSeconds ?? defaults.timeoutSeconds,
    rootfsDelivery: section.rootfsDelivery ?? defaults.rootfsDelivery,
    ...(api !== undefined ? { api } : {}),
    vm: {
      ...(vm.kernel !== undefined ? { kernel: vm.kernel } : {}),
      memoryMiB: vm.memory ?? PROXMOX_VM_SETTINGS_DEFAULTS.memory,
      cores: vm.cores ?? PROXMOX_VM_SETTINGS_DEFAULTS.cores,
    },
  };
  return problems.length > 0 ? { problems } : { settings, problems };
}

/** What a backend needs on this node: folders of the settings that must exist, and tools in cliPath. */
export interface NodeNeeds {
  readonly dirs?: ReadonlyArray<'lxcPath' | 'pveDir' | 'cliPath'>;
  readonly tools?: readonly string[];
}

/** Problems with what `needs` asks of this node, one line each naming the key. */
export function nodeProblems(settings: ProxmoxNodeSettings, needs: NodeNeeds): string[] {
  const problems: string[] = [];
  for (const key of needs.dirs ?? []) {
    const dir = settings[key];
    if (!isDirectory(dir)) problems.push(`proxrun config: proxmox.${key}: ${dir} is not a directory on this node`);
  }
  if ((needs.tools ?? []).length > 0 && isDirectory(settings.cliPath)) {
    for (const tool of needs.tools ?? []) {
      if (!isExecutable(path.join(settings.cliPath, tool))) problems.push(`proxrun config: proxmox.cliPath: ${settings.cliPath} has no executable ${tool}`);
    }
  }
  return problems;
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
