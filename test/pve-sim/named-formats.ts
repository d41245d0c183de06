/**
 * Named string formats of the API schema (`format: "pve-vmid"` and friends), with the messages
 * pve-common and pve-storage die with. A format the simulator does not know is accepted (listed in
 * docs/pve-sim.md): `isKnownFormat` lets callers tell.
 */
import { isIP } from 'node:net';

type FormatCheck = (value: string) => string | undefined;

const DNS_LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const DNS_NAME = new RegExp(`^(?:${DNS_LABEL}\\.)*${DNS_LABEL}$`);
const STORAGE_ID = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;
const CONFIG_ID = /^[a-z][a-z0-9_-]+$/i;
const TAG = /^[a-z0-9_][a-z0-9_\-+.]*$/i;
const CONTENT_TYPES = ['images', 'rootdir', 'vztmpl', 'iso', 'backup', 'snippets', 'import', 'none'];

function volumeIdError(v: string): string | undefined {
  const m = /^([^:]+):(.+)$/.exec(v);
  if (!m || !STORAGE_ID.test(m[1] ?? '')) return `unable to parse volume ID '${v}'`;
  return undefined;
}

function listOf(check: FormatCheck, split: RegExp): FormatCheck {
  return (v) => {
    for (const item of v.split(split)) {
      if (item === '') continue;
      const err = check(item);
      if (err) return err;
    }
    return undefined;
  };
}

const vmid: FormatCheck = (v) => (/^[1-9][0-9]{2,8}$/.test(v) ? undefined : 'value does not look like a valid VM ID');
const node: FormatCheck = (v) => (/^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/.test(v) ? undefined : 'value does not look like a valid node name');
const configId: FormatCheck = (v) => (CONFIG_ID.test(v) ? undefined : `invalid configuration ID '${v}'`);
const storageId: FormatCheck = (v) => (STORAGE_ID.test(v) ? undefined : `storage ID '${v}' contains illegal characters`);
const dnsName: FormatCheck = (v) => (DNS_NAME.test(v) ? undefined : `value does not look like a valid DNS name`);
const ipv4: FormatCheck = (v) => (isIP(v) === 4 ? undefined : `value does not look like a valid IPv4 address`);
const ipv6: FormatCheck = (v) => (isIP(v) === 6 ? undefined : `value does not look like a valid IPv6 address`);
const ip: FormatCheck = (v) => (isIP(v) !== 0 ? undefined : `value does not look like a valid IP address`);
const cidr: (fam: 0 | 4 | 6) => FormatCheck = (fam) => (v) => {
  const m = /^([^/]+)\/(\d+)$/.exec(v);
  const family = m ? isIP(m[1] ?? '') : 0;
  const max = family === 6 ? 128 : 32;
  if (!m || family === 0 || (fam !== 0 && family !== fam) || Number(m[2]) > max) {
    return `value does not look like a valid CIDR network`;
  }
  return undefined;
};
const volumeId: FormatCheck = volumeIdError;
const volumeOrPath: FormatCheck = (v) => (v.startsWith('/') ? undefined : volumeIdError(v));
const lxcMpString: FormatCheck = (v) => (/(?:^|\/)\.\.?(?:\/|$)/.test(v) ? `${v} contains illegal character sequences` : undefined);
const diskSize: FormatCheck = (v) => (/^(\d+(\.\d+)?)([KMGT])?$/.test(v) ? undefined : `unable to parse size '${v}'`);
const macAddr: FormatCheck = (v) => (/^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$/i.test(v) ? undefined : 'value does not look like a valid unicast MAC address');
const tag: FormatCheck = (v) => (TAG.test(v) ? undefined : `invalid tag '${v}'`);
const urlencoded: FormatCheck = (v) => (/^[-%a-zA-Z0-9_.!~*'()]*$/.test(v) ? undefined : `invalid urlencoded string: ${v}`);
const userid: FormatCheck = (v) => (/^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+$/.test(v) ? undefined : `value '${v}' does not look like a valid user name`);
const contentType: FormatCheck = (v) => (CONTENT_TYPES.includes(v) ? undefined : `invalid content type '${v}'`);
const iface: FormatCheck = (v) => (/^[a-zA-Z][a-zA-Z0-9_]{1,20}([:.]\d+)?$/.test(v) ? undefined : `invalid network interface name '${v}'`);
const address: FormatCheck = (v) => (isIP(v) !== 0 || DNS_NAME.test(v) ? undefined : `value does not look like a valid address: ${v}`);
const timezone: FormatCheck = (v) => (v === 'host' || /^[A-Za-z0-9_\-+]+(?:\/[A-Za-z0-9_\-+]+)*$/.test(v) ? undefined : `invalid time zone '${v}'`);
const poolId: FormatCheck = (v) => (/^[A-Za-z0-9_\-]+(?:\/[A-Za-z0-9_\-]+){0,2}$/.test(v) ? undefined : `pool name '${v}' contains illegal characters`);
const ipv4Config: FormatCheck = (v) => (v === 'dhcp' || v === 'manual' || cidr(4)(v) === undefined ? undefined : 'value does not look like a valid ipv4 network configuration');
const ipv6Config: FormatCheck = (v) => (['auto', 'dhcp', 'manual'].includes(v) || cidr(6)(v) === undefined ? undefined : 'value does not look like a valid ipv6 network configuration');
const bridgeId: FormatCheck = (v) => (/^[-_.\w\d]+$/.test(v) ? undefined : `invalid bridge ID '${v}'`);
const startupOrder: FormatCheck = (v) => (/^(?:(?:order=\d+|up=\d+|down=\d+)(?:,|$))+$/.test(v) ? undefined : 'value does not look like a valid startup order');

const FORMATS: Record<string, FormatCheck> = {
  'pve-vmid': vmid,
  'pve-vmid-list': listOf(vmid, /[,; ]/),
  'pve-node': node,
  'pve-node-list': listOf(node, /[,; ]/),
  'pve-configid': configId,
  'pve-configid-list': listOf(configId, /[,; ]/),
  'pve-storage-id': storageId,
  'pve-storage-id-list': listOf(storageId, /[,; ]/),
  'dns-name': dnsName,
  'dns-name-list': listOf(dnsName, /[,; ]/),
  ipv4,
  ipv6,
  ip,
  'ip-list': listOf(ip, /[,; ]/),
  CIDR: cidr(0),
  CIDRv4: cidr(4),
  CIDRv6: cidr(6),
  IPorCIDR: (v) => (isIP(v) !== 0 ? undefined : cidr(0)(v)),
  address,
  'address-list': listOf(address, /[,; ]/),
  'pve-volume-id': volumeId,
  'pve-volume-id-or-qm-path': volumeOrPath,
  'pve-volume-id-or-absolute-path': volumeOrPath,
  'pve-lxc-mp-string': lxcMpString,
  'disk-size': diskSize,
  'mac-addr': macAddr,
  'pve-tag-list': listOf(tag, /[;, ]/),
  urlencoded,
  'pve-userid': userid,
  'pve-storage-content': contentType,
  'pve-storage-content-list': listOf(contentType, /[,; ]/),
  'pve-iface': iface,
  'pve-iface-list': listOf(iface, /[,; ]/),
  'pve-ct-timezone': timezone,
  'pve-poolid': poolId,
  'pve-startup-order': startupOrder,
  'pve-ipv4-config': ipv4Config,
  'pve-ipv6-config': ipv6Config,
  'pve-bridge-id': bridgeId,
};

export function isKnownFormat(name: string): boolean {
  return name in FORMATS;
}

/** The error for `value` under the named format, or undefined when it fits (or the format is unknown). */
export function checkNamedFormat(name: string, value: string): string | undefined {
  const check = FORMATS[name];
  return check ? check(value) : undefined;
}
