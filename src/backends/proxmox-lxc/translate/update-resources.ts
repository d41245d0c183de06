/**
 * `update --resources`: LinuxResources JSON -> the `pct set` parameters Proxmox has for it
 * (memory, swap, cpulimit, cpuunits), through the same translation `create` uses. Everything
 * else is refused by name, before anything changes: fields Proxmox cannot express at all, and
 * those that exist only as raw `lxc.*` keys, which `pct set` cannot change.
 */
import type { LinuxResources } from '../../../oci/spec.js';
import type { PveParams } from '../../../proxmox/client.js';
import { errInvalidArgument, errUnsupported } from '../../../runtime/errors.js';
import { Findings } from '../../shared/findings.js';
import { translateResources } from './translate-resources.js';

const PREFIX = '/linux/resources';

/** Raw keys translation may produce, and the LinuxResources field each comes from. */
const RAW_KEY_FIELDS: Readonly<Record<string, string>> = {
  'lxc.cgroup2.pids.max': '/pids/limit',
  'lxc.cgroup2.memory.low': '/memory/reservation',
};

function relative(pointer: string): string {
  return pointer.startsWith(PREFIX) ? pointer.slice(PREFIX.length) || '/' : pointer;
}

/** The `pct set` parameters for `bytes` (may be empty: nothing to change); throws naming the first refused field. */
export function resourcesToCtParams(bytes: Buffer): PveParams {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw errInvalidArgument(`update: invalid LinuxResources JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw errInvalidArgument('update: LinuxResources must be a JSON object');
  const findings = new Findings(false);
  const { params, rawLxc } = translateResources(doc as LinuxResources, findings);
  const refusals = findings.problems.map((p) => `update: ${relative(p.path)}: ${p.message}`);
  for (const [key] of rawLxc) {
    refusals.push(`update: ${RAW_KEY_FIELDS[key] ?? key}: not supported by the proxmox-lxc backend (only a raw ${key} key holds it, which pct set cannot change)`);
  }
  if (refusals.length > 0) throw errUnsupported(refusals.join('; '));
  return params;
}
