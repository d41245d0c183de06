/**
 * Builds the Proxmox client for proxrun's config: the settings through the one resolver
 * (settings.ts), then the transport they name, with one-line errors naming the bad key. Also
 * re-exports what backends and the runtime use from this folder.
 */
import type { ProxrunConfig } from '../oci/spec.js';
import type { InflightTracker, ProxmoxClient } from './client.js';
import { ApiTransport } from './api-transport.js';
import { CliTransport } from './cli-transport.js';
import { resolveProxmoxSettings, type ProxmoxNodeSettings } from './settings.js';
import { readTokenSecret } from './token-secret.js';
import { checkTlsTrust } from './tls-trust.js';

export { ProxmoxError } from './client.js';
export type { ClusterGuest, CtStatus, InflightCall, InflightTracker, ProxmoxClient, PveParams, RawLxcEntry, StorageVolume, VmStatus } from './client.js';
export { allocateAndCreate, checkVmidRange, isVmidTaken, DEFAULT_VMID_LOCK_FILE } from './vmid.js';
export type { VmidAllocationOptions, VmidRange } from './vmid.js';
export { apiBaseUrl, nodeProblems, resolveProxmoxSettings, type NodeNeeds, type ProxmoxNodeSettings } from './settings.js';

/** The client for resolved settings; `tracker` hears of every call that may outlive the caller. */
export function clientFor(settings: ProxmoxNodeSettings, tracker?: InflightTracker): ProxmoxClient {
  const { node, pveDir, timeoutSeconds } = settings;
  if (settings.transport === 'cli' || settings.api === undefined) {
    return new CliTransport({ node, pveDir, cliPath: settings.cliPath, timeoutSeconds, tracker });
  }
  const { api } = settings;
  const trust = checkTlsTrust({
    ...(api.fingerprint !== undefined ? { fingerprint: api.fingerprint } : {}),
    ...(api.caFile !== undefined ? { caFile: api.caFile } : {}),
  });
  const secret = readTokenSecret(api.tokenSecretFile);
  return new ApiTransport({ node, pveDir, tracker, endpoint: { base: api.base, authorization: `PVEAPIToken=${api.tokenId}=${secret}`, trust, timeoutSeconds } });
}

/** Resolves the `proxmox` section and builds its client; throws the problems on one line. */
export function createProxmoxClient(section: ProxrunConfig['proxmox'], options: { tracker?: InflightTracker; hostName?: string } = {}): ProxmoxClient {
  const { settings, problems } = resolveProxmoxSettings({ ...(section !== undefined ? { proxmox: section } : {}) }, options.hostName);
  if (settings === undefined) throw new Error(problems.join('; '));
  return clientFor(settings, options.tracker);
}
