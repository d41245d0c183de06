/**
 * The simulator's own parameter rules: for every API path it implements, the parameters Proxmox VE 9.1
 * takes there, with their types, ranges, enumerations, named formats and property-string keys. Used when
 * the official schema file (../shared/reference/pve-api/apidata-pve9.1.json) is not there, so that the
 * simulator still refuses with 400 and `errors.<name>` what a node refuses, in pve-common's words
 * (api-schema.ts does the checking for both). Written for this project from Proxmox's documentation and
 * a reading of the schema; `own-rules.test.ts` compares them with the official file where it exists.
 * Parameters are optional unless wrapped in `required`. Only what proxrun, the tests and the simulator's
 * handlers use is listed: anything else is an unknown parameter here, so a new use fails the request
 * audit until it is added.
 */
import type { MethodSchema, SchemaProperty } from './api-schema.js';

type Rule = SchemaProperty;
type Rules = Record<string, Rule>;

// Building blocks. Ranges and enumerations follow pve-common / pve-container / qemu-server.
const required = (rule: Rule): Rule => {
  const { optional: _dropped, ...rest } = rule;
  return rest;
};
const opt = (rule: Rule): Rule => ({ ...rule, optional: 1 });
const bool: Rule = opt({ type: 'boolean' });
const int = (minimum?: number, maximum?: number): Rule =>
  opt({ type: 'integer', ...(minimum !== undefined ? { minimum } : {}), ...(maximum !== undefined ? { maximum } : {}) });
const num = (minimum?: number, maximum?: number): Rule =>
  opt({ type: 'number', ...(minimum !== undefined ? { minimum } : {}), ...(maximum !== undefined ? { maximum } : {}) });
const str = (extra: Partial<Rule> = {}): Rule => opt({ type: 'string', ...extra });
const named = (format: string, extra: Partial<Rule> = {}): Rule => str({ format, ...extra });
const oneOf = (...values: string[]): Rule => str({ enum: values });
const pattern = (perl: string, extra: Partial<Rule> = {}): Rule => str({ pattern: perl, ...extra });
/** A property string (`key=value,...`); the key marked `defaultKey` may be given without its name. */
const propertyString = (keys: Rules, defaultKey?: string): Rule => {
  const format: Rules = {};
  for (const [k, v] of Object.entries(keys)) format[k] = k === defaultKey ? { ...v, default_key: 1 } : v;
  return str({ format });
};
const alias = (target: string): Rule => ({ alias: target });

const node = required(named('pve-node'));
const vmid = required({ ...int(100, 999999999), format: 'pve-vmid' });
const optionalVmid: Rule = { ...int(100, 999999999), format: 'pve-vmid' };
const storageId = named('pve-storage-id');
const configIdList = named('pve-configid-list');
const description = str({ maxLength: 8192 });
const digest = str({ maxLength: 40 });

// --- Containers (pve-container 6.1) --------------------------------------------------------------

/** Mount options a CT volume may carry, `;`-separated. */
const MOUNT_OPTION = '(discard|lazytime|noatime|nodev|noexec|nosuid)';
const mountKeys: Rules = {
  volume: required(named('pve-lxc-mp-string')),
  acl: bool,
  mountoptions: pattern(`${MOUNT_OPTION}(;${MOUNT_OPTION})*`),
  quota: bool,
  replicate: bool,
  ro: bool,
  shared: bool,
  size: named('disk-size'),
};
const ctRootfs = propertyString(mountKeys, 'volume');
const ctMountPoint = propertyString({ ...mountKeys, mp: required(named('pve-lxc-mp-string')), backup: bool, keepattrs: bool }, 'volume');
const ctNet = propertyString({
  name: required(pattern('[-_.\\w\\d]+')),
  bridge: pattern('[-_.\\w\\d]+'),
  firewall: bool,
  gw: named('ipv4'),
  gw6: named('ipv6'),
  'host-managed': bool,
  hwaddr: named('mac-addr'),
  ip: named('pve-ipv4-config'),
  ip6: named('pve-ipv6-config'),
  link_down: bool,
  mtu: int(64, 65535),
  rate: num(),
  tag: int(1, 4094),
  trunks: pattern('\\d+(?:;\\d+)*'),
  type: oneOf('veth'),
});
const ctFeatures = propertyString({
  nesting: bool,
  keyctl: bool,
  fuse: bool,
  mknod: bool,
  force_rw_sys: bool,
  mount: pattern('[a-zA-Z0-9_; ]+'),
});
/** Control characters other than tab are refused in entrypoint and env (pve-container >= 6.1.6 allows tab). */
const NO_CONTROL = '[^\\x00-\\x08\\x0a-\\x1F\\x7F]';

/** Keys of a CT's configuration, as create and config update take them. */
const ctConfigKeys: Rules = {
  arch: oneOf('amd64', 'i386', 'arm64', 'armhf', 'riscv32', 'riscv64'),
  cmode: oneOf('shell', 'console', 'tty'),
  console: bool,
  cores: int(1, 8192),
  cpulimit: num(0, 8192),
  cpuunits: int(0, 500000),
  debug: bool,
  description,
  entrypoint: pattern(`${NO_CONTROL}+`),
  env: pattern(`(?:\\w+=${NO_CONTROL}*)(?:\\0\\w+=${NO_CONTROL}*)*`),
  features: ctFeatures,
  hookscript: named('pve-volume-id'),
  hostname: named('dns-name', { maxLength: 255 }),
  lock: oneOf('backup', 'create', 'destroyed', 'disk', 'fstrim', 'migrate', 'mounted', 'rollback', 'snapshot', 'snapshot-delete'),
  memory: int(16),
  'mp[n]': ctMountPoint,
  nameserver: named('lxc-ip-with-ll-iface-list'),
  'net[n]': ctNet,
  onboot: bool,
  ostype: oneOf('debian', 'devuan', 'ubuntu', 'centos', 'fedora', 'opensuse', 'archlinux', 'alpine', 'gentoo', 'nixos', 'unmanaged'),
  protection: bool,
  rootfs: ctRootfs,
  searchdomain: named('dns-name-list'),
  startup: named('pve-startup-order'),
  swap: int(0),
  tags: named('pve-tag-list'),
  template: bool,
  timezone: named('pve-ct-timezone'),
  tty: int(0, 6),
  unprivileged: bool,
  'unused[n]': propertyString({ volume: required(named('pve-volume-id')) }, 'volume'),
};

const ctCreate: Rules = {
  ...ctConfigKeys,
  node,
  vmid,
  ostemplate: required(str({ maxLength: 255 })),
  storage: storageId,
  pool: named('pve-poolid'),
  password: str({ minLength: 5 }),
  'ssh-public-keys': str(),
  start: bool,
  restore: bool,
  force: bool,
  unique: bool,
  'ignore-unpack-errors': bool,
  bwlimit: num(0),
  'ha-managed': bool,
};
const ctUpdate: Rules = { ...ctConfigKeys, node, vmid, delete: configIdList, revert: configIdList, digest };

// --- Virtual machines (qemu-server, PVE 9.1) -------------------------------------------------------

const AIO = ['native', 'threads', 'io_uring'];
const CACHE = ['none', 'writethrough', 'writeback', 'unsafe', 'directsync'];
const IMAGE_FORMAT = ['raw', 'qcow', 'qed', 'qcow2', 'vmdk', 'cloop'];
const diskKeys: Rules = {
  file: required(named('pve-volume-id-or-qm-path')),
  volume: alias('file'),
  'import-from': named('pve-volume-id-or-absolute-path'),
  aio: oneOf(...AIO),
  backup: bool,
  cache: oneOf(...CACHE),
  detect_zeroes: bool,
  discard: oneOf('ignore', 'on'),
  format: oneOf(...IMAGE_FORMAT),
  media: oneOf('cdrom', 'disk'),
  replicate: bool,
  serial: named('urlencoded', { maxLength: 60 }),
  shared: bool,
  size: named('disk-size'),
  snapshot: bool,
};
const vmDisk = (extra: Rules): Rule => propertyString({ ...diskKeys, ...extra }, 'file');
/** `pc`, `q35`, a versioned i440fx or q35 type (`pc-i440fx-9.2+pve1`, `.pxe` variants) or an Arm `virt` type. */
const VERSION = '-\\d+(?:\\.\\d+)+';
const MACHINE_TYPE = `pc|q35|(?:pc(?:-i440fx)?|pc-q35)${VERSION}(?:\\+pve\\d+)?(?:\\.pxe)?|virt(?:${VERSION})?(?:\\+pve\\d+)?`;
const NIC_MODELS = ['e1000', 'e1000-82540em', 'e1000-82544gc', 'e1000-82545em', 'e1000e', 'i82551', 'i82557b', 'i82559er', 'ne2k_isa', 'ne2k_pci', 'pcnet', 'rtl8139', 'virtio', 'vmxnet3'];

/** Keys of a VM's configuration, as create and config update take them. */
const vmConfigKeys: Rules = {
  acpi: bool,
  agent: propertyString({ enabled: required({ type: 'boolean' }), 'freeze-fs': bool, fstrim_cloned_disks: bool, type: oneOf('virtio', 'isa') }, 'enabled'),
  args: str(),
  balloon: int(0),
  bios: oneOf('seabios', 'ovmf'),
  boot: named('pve-qm-boot'),
  cores: int(1),
  cpu: named('pve-vm-cpu-conf'),
  cpulimit: num(0, 128),
  cpuunits: int(1, 262144),
  description,
  'ide[n]': vmDisk({ ssd: bool }),
  kvm: bool,
  lock: oneOf('backup', 'clone', 'create', 'migrate', 'rollback', 'snapshot', 'snapshot-delete', 'suspending', 'suspended'),
  machine: propertyString({ type: pattern(MACHINE_TYPE, { maxLength: 40 }), viommu: oneOf('intel', 'virtio') }, 'type'),
  memory: propertyString({ current: required(int(16)) }, 'current'),
  name: named('dns-name'),
  'net[n]': propertyString({
    model: required(oneOf(...NIC_MODELS)),
    macaddr: named('mac-addr'),
    bridge: named('pve-bridge-id'),
    firewall: bool,
    link_down: bool,
    mtu: int(1, 65520),
    queues: int(0, 64),
    rate: num(0),
    tag: int(1, 4094),
  }, 'model'),
  onboot: bool,
  ostype: oneOf('other', 'wxp', 'w2k', 'w2k3', 'w2k8', 'wvista', 'win7', 'win8', 'win10', 'win11', 'l24', 'l26', 'solaris'),
  protection: bool,
  'sata[n]': vmDisk({ ssd: bool }),
  'scsi[n]': vmDisk({ iothread: bool, ssd: bool, ro: bool }),
  scsihw: oneOf('lsi', 'lsi53c810', 'virtio-scsi-pci', 'virtio-scsi-single', 'megasas', 'pvscsi'),
  'serial[n]': pattern('(/dev/.+|socket)'),
  smbios1: named('pve-qm-smbios1', { maxLength: 512 }),
  sockets: int(1),
  tags: named('pve-tag-list'),
  template: bool,
  'unused[n]': propertyString({ file: required(named('pve-volume-id')), volume: alias('file') }, 'file'),
  vcpus: int(1),
  vga: propertyString({
    type: oneOf('cirrus', 'qxl', 'qxl2', 'qxl3', 'qxl4', 'none', 'serial0', 'serial1', 'serial2', 'serial3', 'std', 'virtio', 'virtio-gl', 'vmware'),
    memory: int(4, 512),
    clipboard: oneOf('vnc'),
  }, 'type'),
  'virtio[n]': vmDisk({ iothread: bool, ro: bool }),
  'virtiofs[n]': propertyString({ dirid: required(named('pve-configid')), cache: oneOf('auto', 'always', 'metadata', 'never'), 'direct-io': bool, 'expose-acl': bool, 'expose-xattr': bool }, 'dirid'),
  vmgenid: pattern('(?:[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}|[01])'),
};
const vmCreate: Rules = { ...vmConfigKeys, node, vmid, storage: storageId, pool: named('pve-poolid'), start: bool, unique: bool, force: bool };
const vmUpdate: Rules = { ...vmConfigKeys, node, vmid, delete: configIdList, revert: configIdList, digest, skiplock: bool, force: bool };

// --- The table ---------------------------------------------------------------------------------------

const guestPath: Rules = { node, vmid };
const nodeOnly: Rules = { node };
const upid = required(str());
const mappingId = required(named('pve-configid'));
const HOST_LABEL = '[a-zA-Z\\d](?:[a-zA-Z\\d-]*[a-zA-Z\\d])?';
const DOMAIN = `${HOST_LABEL}(?:\\.${HOST_LABEL})*`;
const PATH_PART = '[a-z\\d]+(?:(?:[._]|__|-*)[a-z\\d]+)*';
const dirMap: Rule = { type: 'array', items: { type: 'string', format: { node: required(named('pve-node')), path: required(named('pve-storage-path-in-property-string')) } } };

/** Parameters by `METHOD /path/template`, for every route of api-routes.ts and the ticket request. */
export const OWN_RULES: Readonly<Record<string, Rules>> = {
  'GET /version': {},
  'POST /access/ticket': {
    username: required(str({ maxLength: 64 })), password: required(str()), realm: named('pve-realm', { maxLength: 32 }), otp: str(),
    'tfa-challenge': str(), path: str({ maxLength: 64 }), privs: named('pve-priv-list', { maxLength: 64 }), 'new-format': bool,
  },
  'GET /cluster/nextid': { vmid: optionalVmid },
  'GET /cluster/resources': { type: oneOf('vm', 'storage', 'node', 'sdn') },
  'GET /cluster/mapping/dir': { 'check-node': named('pve-node') },
  'POST /cluster/mapping/dir': { id: mappingId, map: required(dirMap), description: str({ maxLength: 4096 }) },
  'GET /cluster/mapping/dir/{id}': { id: mappingId },
  'PUT /cluster/mapping/dir/{id}': { id: mappingId, map: opt(dirMap), description: str({ maxLength: 4096 }), delete: named('pve-configid-list', { maxLength: 4096 }), digest: str({ maxLength: 64 }) },
  'DELETE /cluster/mapping/dir/{id}': { id: mappingId },
  'GET /nodes': {},
  'GET /nodes/{node}': nodeOnly,
  'GET /nodes/{node}/status': nodeOnly,
  'GET /nodes/{node}/version': nodeOnly,
  'GET /nodes/{node}/tasks': {
    node, start: int(0), limit: int(0), vmid: optionalVmid, typefilter: str(), userfilter: str(), errors: bool,
    source: oneOf('archive', 'active', 'all'), since: int(), until: int(),
  },
  'GET /nodes/{node}/tasks/{upid}/status': { node, upid },
  'GET /nodes/{node}/tasks/{upid}/log': { node, upid, start: int(0), limit: int(0), download: bool },
  'DELETE /nodes/{node}/tasks/{upid}': { node, upid },
  'GET /nodes/{node}/lxc': nodeOnly,
  'POST /nodes/{node}/lxc': ctCreate,
  'GET /nodes/{node}/lxc/{vmid}': guestPath,
  'DELETE /nodes/{node}/lxc/{vmid}': { ...guestPath, force: bool, purge: bool, 'destroy-unreferenced-disks': bool },
  'GET /nodes/{node}/lxc/{vmid}/config': { ...guestPath, current: bool, snapshot: named('pve-configid', { maxLength: 40 }) },
  'PUT /nodes/{node}/lxc/{vmid}/config': ctUpdate,
  'GET /nodes/{node}/lxc/{vmid}/status': guestPath,
  'GET /nodes/{node}/lxc/{vmid}/status/current': guestPath,
  'POST /nodes/{node}/lxc/{vmid}/status/start': { ...guestPath, skiplock: bool, debug: bool },
  'POST /nodes/{node}/lxc/{vmid}/status/stop': { ...guestPath, skiplock: bool, 'overrule-shutdown': bool },
  'POST /nodes/{node}/lxc/{vmid}/status/shutdown': { ...guestPath, timeout: int(0), forceStop: bool },
  'POST /nodes/{node}/lxc/{vmid}/status/reboot': { ...guestPath, timeout: int(0) },
  'GET /nodes/{node}/qemu': { node, full: bool },
  'POST /nodes/{node}/qemu': vmCreate,
  'GET /nodes/{node}/qemu/{vmid}': guestPath,
  'DELETE /nodes/{node}/qemu/{vmid}': { ...guestPath, purge: bool, skiplock: bool, 'destroy-unreferenced-disks': bool },
  'GET /nodes/{node}/qemu/{vmid}/config': { ...guestPath, current: bool, snapshot: named('pve-configid', { maxLength: 40 }) },
  'PUT /nodes/{node}/qemu/{vmid}/config': vmUpdate,
  'POST /nodes/{node}/qemu/{vmid}/config': { ...vmUpdate, background_delay: int(1, 30) },
  'GET /nodes/{node}/qemu/{vmid}/status': guestPath,
  'GET /nodes/{node}/qemu/{vmid}/status/current': guestPath,
  'POST /nodes/{node}/qemu/{vmid}/status/start': { ...guestPath, skiplock: bool, timeout: int(0) },
  'POST /nodes/{node}/qemu/{vmid}/status/stop': { ...guestPath, skiplock: bool, keepActive: bool, timeout: int(0), 'overrule-shutdown': bool },
  'POST /nodes/{node}/qemu/{vmid}/status/shutdown': { ...guestPath, skiplock: bool, keepActive: bool, timeout: int(0), forceStop: bool },
  'GET /nodes/{node}/storage': { node, content: named('pve-storage-content-list'), enabled: bool, format: bool, storage: storageId, target: named('pve-node') },
  'GET /nodes/{node}/storage/{storage}': { node, storage: required(storageId) },
  'GET /nodes/{node}/storage/{storage}/content': { node, storage: required(storageId), content: named('pve-storage-content'), vmid: optionalVmid },
  // `storage` is optional here: the volume may name its storage itself (`local:iso/x.iso`).
  'GET /nodes/{node}/storage/{storage}/content/{volume}': { node, storage: storageId, volume: required(str()) },
  'DELETE /nodes/{node}/storage/{storage}/content/{volume}': { node, storage: storageId, volume: required(str()), delay: int(1, 30) },
  'POST /nodes/{node}/storage/{storage}/upload': {
    node, storage: required(storageId), content: required({ ...oneOf('iso', 'vztmpl', 'import'), format: 'pve-storage-content' }),
    filename: required(str({ maxLength: 255 })), checksum: str(), 'checksum-algorithm': oneOf('md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'),
    tmpfilename: pattern('/var/tmp/pveupload-[0-9a-f]+'),
  },
  'POST /nodes/{node}/storage/{storage}/oci-registry-pull': {
    node, storage: required(storageId), filename: str({ maxLength: 255, minLength: 1 }),
    // An image reference, [registry[:port]/]repository[/more]:tag, in the distribution spec's grammar.
    reference: required(pattern(`(?:${DOMAIN}(?::\\d+)?/)?${PATH_PART}(?:/${PATH_PART})*:\\w[\\w.-]{0,127}`)),
  },
};

/** The method description of a route template, in the shape the schema checker takes. */
export function ownMethodSchema(method: string, template: string): MethodSchema | undefined {
  const rules = OWN_RULES[`${method} ${template}`];
  if (rules === undefined) return undefined;
  return { method, parameters: { additionalProperties: 0, properties: rules } };
}
