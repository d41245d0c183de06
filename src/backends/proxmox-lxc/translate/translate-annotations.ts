/**
 * `io.proxrun.pve.*` annotations: Proxmox-only settings an OCI spec has no field for.
 * Each value is checked against the format Proxmox gives the option, so a bad value
 * fails here, naming the annotation, rather than in a Proxmox task.
 */
import { joinPointer } from '../../../oci/problems.js';
import type { PveParams } from '../../../proxmox/client.js';
import { Findings } from '../../shared/findings.js';
import { hasControlCharacter } from '../../../proxmox/conf-file.js';

export const PVE_ANNOTATION_PREFIX = 'io.proxrun.pve.';

export interface AnnotationSettings {
  params: PveParams;
  unprivileged: boolean;
  node?: string;
  storage?: string;
  /** Free text appended to the description. */
  description?: string;
  hasNet0: boolean;
}

const STORAGE_ID = /^[a-z][a-z0-9._-]*[a-z0-9]$/i;
const NODE_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i;
const POOL_ID = /^[a-z0-9._-]+$/i;
const TAG = /^[a-z0-9_][a-z0-9_+.-]*$/i;
const BOOLEAN_FEATURES: ReadonlySet<string> = new Set(['nesting', 'keyctl', 'fuse', 'mknod', 'force_rw_sys']);
const NET_KEYS: ReadonlySet<string> = new Set([
  'name', 'bridge', 'firewall', 'gw', 'gw6', 'host-managed', 'hwaddr', 'ip', 'ip6', 'link_down', 'mtu', 'rate', 'tag', 'trunks', 'type',
]);
/** Proxmox's description is stored as comment lines of at most 8 KiB. */
const MAX_DESCRIPTION = 8192;

/** `a=1,b=2` -> pairs; undefined when an item has no `=` or a key repeats. */
function parsePropertyString(value: string): Array<[string, string]> | undefined {
  const pairs: Array<[string, string]> = [];
  const keys = new Set<string>();
  for (const item of value.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) return undefined;
    const key = item.slice(0, eq);
    if (keys.has(key)) return undefined;
    keys.add(key);
    pairs.push([key, item.slice(eq + 1)]);
  }
  return pairs;
}

function parseBoolean(value: string): boolean | undefined {
  if (value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  return undefined;
}

function checkFeatures(value: string, unprivileged: boolean, at: string, findings: Findings): boolean {
  const pairs = parsePropertyString(value);
  if (pairs === undefined) {
    findings.refuse(at, 'must be a property string like nesting=1,keyctl=1');
    return false;
  }
  let ok = true;
  for (const [key, item] of pairs) {
    if (key === 'mount') {
      if (!/^[a-z0-9_]+(;[a-z0-9_]+)*$/i.test(item)) {
        findings.refuse(at, 'mount= must list file system types separated by ";"');
        ok = false;
      }
    } else if (!BOOLEAN_FEATURES.has(key)) {
      findings.refuse(at, `unknown feature ${JSON.stringify(key)} (nesting, keyctl, fuse, mknod, force_rw_sys, mount)`);
      ok = false;
    } else if (parseBoolean(item) === undefined) {
      findings.refuse(at, `${key} must be 0 or 1`);
      ok = false;
    } else if (key === 'keyctl' && parseBoolean(item) === true && !unprivileged) {
      findings.refuse(at, 'keyctl is only available to unprivileged containers');
      ok = false;
    }
  }
  return ok;
}

function checkNet0(value: string, at: string, findings: Findings): boolean {
  const pairs = parsePropertyString(value);
  if (pairs === undefined) {
    findings.refuse(at, 'must be a property string like name=eth0,bridge=vmbr0,ip=dhcp');
    return false;
  }
  const unknown = pairs.filter(([key]) => !NET_KEYS.has(key)).map(([key]) => key);
  if (unknown.length > 0) {
    findings.refuse(at, `unknown network option(s): ${unknown.join(', ')}`);
    return false;
  }
  const name = pairs.find(([key]) => key === 'name')?.[1];
  if (name === undefined || !/^[-_.\w]+$/.test(name)) {
    findings.refuse(at, 'must have name=<interface name inside the container>');
    return false;
  }
  return true;
}

export function translateAnnotations(annotations: Readonly<Record<string, string | undefined>>, findings: Findings): AnnotationSettings {
  const settings: AnnotationSettings = { params: {}, unprivileged: true, hasNet0: false };
  const at = (key: string): string => joinPointer('/annotations', key);
  const get = (name: string): string | undefined => annotations[PVE_ANNOTATION_PREFIX + name];

  const unprivileged = get('unprivileged');
  if (unprivileged !== undefined) {
    const parsed = parseBoolean(unprivileged);
    if (parsed === undefined) findings.refuse(at(`${PVE_ANNOTATION_PREFIX}unprivileged`), 'must be 1, 0, true or false');
    else settings.unprivileged = parsed;
  }

  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith(PVE_ANNOTATION_PREFIX) || value === undefined) continue;
    const name = key.slice(PVE_ANNOTATION_PREFIX.length);
    const path = at(key);
    if (name !== 'description' && hasControlCharacter(value)) {
      findings.refuse(path, 'must not contain control characters');
      continue;
    }
    switch (name) {
      case 'unprivileged':
        break;
      case 'storage':
        if (STORAGE_ID.test(value)) settings.storage = value;
        else findings.refuse(path, 'must be a Proxmox storage id');
        break;
      case 'node':
        if (NODE_NAME.test(value)) settings.node = value;
        else findings.refuse(path, 'must be a Proxmox node name');
        break;
      case 'pool':
        if (POOL_ID.test(value)) settings.params.pool = value;
        else findings.refuse(path, 'must be a Proxmox pool id');
        break;
      case 'tags': {
        const tags = [...new Set(value.split(/[;,]/).map((tag) => tag.trim()).filter((tag) => tag !== ''))];
        const bad = tags.filter((tag) => !TAG.test(tag));
        if (bad.length > 0) findings.refuse(path, `invalid tag(s) ${bad.map((tag) => JSON.stringify(tag)).join(', ')}: each must match [a-z0-9_][a-z0-9_-+.]*`);
        else if (tags.length > 0) settings.params.tags = tags.join(';');
        break;
      }
      case 'description':
        if (value.includes('\u0000')) findings.refuse(path, 'must not contain a NUL character');
        else settings.description = value;
        break;
      case 'features':
        if (checkFeatures(value, settings.unprivileged, path, findings)) settings.params.features = value;
        break;
      case 'net0':
        if (checkNet0(value, path, findings)) {
          settings.params.net0 = value;
          settings.hasNet0 = true;
        }
        break;
      default:
        findings.refuse(path, `unknown proxmox-lxc setting (known: unprivileged, storage, node, pool, tags, description, features, net0)`);
    }
  }
  return settings;
}

/** Proxmox's description: who made the container, then the annotation's text; at most 8 KiB. */
export function describeContainer(containerId: string, extra: string | undefined, findings: Findings): string {
  const text = extra === undefined || extra === '' ? `proxrun container ${containerId}` : `proxrun container ${containerId}\n\n${extra}`;
  if (Buffer.byteLength(text) > MAX_DESCRIPTION) {
    findings.refuse(joinPointer('/annotations', `${PVE_ANNOTATION_PREFIX}description`), `the description would be longer than Proxmox's ${MAX_DESCRIPTION} bytes`);
  }
  return text;
}
