/**
 * Picks the Proxmox transport from proxrun's config and checks its settings, with one-line errors
 * naming the missing or bad key. Also re-exports what backends use from this folder.
 */
import os from 'node:os';
import path from 'node:path';
import type { ProxrunConfig } from '../oci/spec.js';
import type { ProxmoxClient } from './client.js';
import { ApiTransport } from './api-transport.js';
import { CliTransport } from './cli-transport.js';
import { readTokenSecret } from './token-secret.js';
import { checkTlsTrust } from './tls-trust.js';

export { ProxmoxError } from './client.js';
export type { ClusterGuest, CtStatus, ProxmoxClient, PveParams, StorageVolume } from './client.js';
export { allocateAndCreate, checkVmidRange, isVmidTaken, DEFAULT_VMID_LOCK_FILE } from './vmid.js';
export type { VmidAllocationOptions, VmidRange } from './vmid.js';

export type ProxmoxSettings = NonNullable<ProxrunConfig['proxmox']>;

export const DEFAULT_TIMEOUT_SECONDS = 60;
export const DEFAULT_CLI_PATH = '/usr/sbin';

function timeoutOf(settings: ProxmoxSettings): number {
  const t = settings.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) throw new Error('proxrun config: proxmox.timeoutSeconds must be a positive number');
  return t;
}

function nodeOf(settings: ProxmoxSettings): string {
  const node = settings.node ?? os.hostname().split('.')[0] ?? '';
  if (!/^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/.test(node)) throw new Error(`proxrun config: proxmox.node ${JSON.stringify(node)} is not a valid node name`);
  return node;
}

/** `https://host:8006` or `https://host:8006/api2/json` → the latter, as a URL. */
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

function required<T>(value: T | undefined | null, key: string): T {
  if (value === undefined || value === null || value === '') throw new Error(`proxrun config: proxmox.${key} is required for transport "api"`);
  return value;
}

/** Builds the client for `settings` (`transport` defaults to `cli`). */
export function createProxmoxClient(settings: ProxrunConfig['proxmox']): ProxmoxClient {
  const s: ProxmoxSettings = settings ?? {};
  const transport = s.transport ?? 'cli';
  const timeoutSeconds = timeoutOf(s);
  const node = nodeOf(s);
  if (transport === 'cli') {
    const cliPath = s.cliPath ?? DEFAULT_CLI_PATH;
    if (!path.isAbsolute(cliPath)) throw new Error('proxrun config: proxmox.cliPath must be an absolute path');
    return new CliTransport({ node, cliPath, timeoutSeconds });
  }
  if (transport !== 'api') throw new Error(`proxrun config: proxmox.transport must be "cli" or "api", not ${JSON.stringify(transport)}`);
  const base = apiBaseUrl(required(s.apiUrl, 'apiUrl'));
  const tokenId = required(s.tokenId, 'tokenId');
  if (!/^[^\s@!=]+@[^\s@!=]+![A-Za-z][A-Za-z0-9._-]*$/.test(tokenId)) throw new Error('proxrun config: proxmox.tokenId must look like USER@REALM!TOKENID');
  const secretFile = required(s.tokenSecretFile, 'tokenSecretFile');
  const trustSettings: { fingerprint?: string; caFile?: string } = {};
  if (s.fingerprint !== undefined) trustSettings.fingerprint = s.fingerprint;
  if (s.caFile !== undefined && s.caFile !== null) trustSettings.caFile = s.caFile;
  const trust = checkTlsTrust(trustSettings);
  const secret = readTokenSecret(secretFile);
  return new ApiTransport({ node, endpoint: { base, authorization: `PVEAPIToken=${tokenId}=${secret}`, trust, timeoutSeconds } });
}
