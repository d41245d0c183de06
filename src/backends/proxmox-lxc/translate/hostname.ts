/**
 * Proxmox's `hostname` is a DNS name: labels of [a-z0-9-], at most 63 characters each,
 * not starting or ending with `-`. OCI hostnames and engine ids are made to fit.
 */

const MAX_LABEL = 63;
const MAX_NAME = 253;

function cleanLabel(label: string): string {
  const lowered = label.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return lowered.slice(0, MAX_LABEL).replace(/^-+/, '').replace(/-+$/, '');
}

/** The DNS name `raw` becomes, or undefined when nothing valid remains. */
export function toDnsName(raw: string): string | undefined {
  const labels = raw.split('.').map(cleanLabel).filter((label) => label !== '');
  if (labels.length === 0) return undefined;
  let name = labels.join('.');
  if (name.length > MAX_NAME) name = name.slice(0, MAX_NAME).replace(/[.-]+$/, '');
  return name === '' ? undefined : name;
}

/** A hostname for a container without one: `ct-` + the first 12 characters of a 64-hex id, else the id made a DNS name. */
export function hostnameFromId(containerId: string): string {
  if (/^[0-9a-f]{64}$/i.test(containerId)) return `ct-${containerId.slice(0, 12).toLowerCase()}`;
  return toDnsName(containerId) ?? 'ct';
}
