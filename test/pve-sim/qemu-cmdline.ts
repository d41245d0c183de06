/**
 * The QEMU command line of a VM, built from its qemu-server config the way qemu-server lays it out
 * (a pure function: no I/O). Covered: name, memory, sockets/cores, cpu, machine, smbios uuid, vmgenid,
 * vga, serial sockets and host serial devices, scsi/virtio/ide/sata disks from storage volumes, boot
 * order, the guest agent channel, QMP and VNC sockets in the node's qemu-server run folder, `args`
 * appended last after shell-like word splitting. Network devices are left out (see docs/pve-sim.md).
 */
import path from 'node:path';
import { splitArgs } from './qemu-args.js';

export type Accel = 'kvm' | 'tcg';

export interface VmCmdlineInput {
  vmid: number;
  props: Readonly<Record<string, string>>;
  /** Stands for `/var/run/qemu-server`. */
  qemuRunDir: string;
  accel: Accel;
  /** Resolves a volume id (`local:100/vm-100-disk-0.raw`) to a host path. */
  resolveVolume: (volid: string) => string;
}

/** Sockets and files qemu-server keeps for a running VM. */
export function vmRunPaths(qemuRunDir: string, vmid: number): { pid: string; qmp: string; vnc: string; qga: string; serial: (n: number) => string; virtiofs: (n: number) => string; virtiofsPid: (n: number) => string } {
  const base = path.join(qemuRunDir, String(vmid));
  return {
    pid: `${base}.pid`, qmp: `${base}.qmp`, vnc: `${base}.vnc`, qga: `${base}.qga`, serial: (n) => `${base}.serial${n}`,
    virtiofs: (n) => `${base}.virtiofs${n}`, virtiofsPid: (n) => `${base}.virtiofs${n}.pid`,
  };
}

/** The highest virtiofsN index qemu-server knows (virtiofs0..virtiofs9). */
export const MAX_VIRTIOFS = 10;

/** The `virtiofsN` shares of a config: index, mapping id (also the guest's tag), cache mode. */
export function virtiofsShares(props: Readonly<Record<string, string>>): Array<{ index: number; dirid: string; cache: string }> {
  const out: Array<{ index: number; dirid: string; cache: string }> = [];
  for (let n = 0; n < MAX_VIRTIOFS; n += 1) {
    const value = props[`virtiofs${n}`];
    if (value === undefined) continue;
    const opts = parsePropertyString(value, 'dirid');
    out.push({ index: n, dirid: opts['dirid'] ?? '', cache: opts['cache'] ?? 'auto' });
  }
  return out;
}

/** Splits a property string `a=1,b=2` (with an optional default key for a leading bare value). */
export function parsePropertyString(value: string, defaultKey?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',').filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0 && defaultKey !== undefined && out[defaultKey] === undefined) out[defaultKey] = part;
    else if (eq < 0) out[part] = '1';
    else out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

const truthy = (v: string | undefined): boolean => v !== undefined && /^(1|on|yes|true)$/i.test(v);

const VGA_DEVICES: Record<string, string> = {
  std: 'VGA',
  cirrus: 'cirrus-vga',
  vmware: 'vmware-svga',
  qxl: 'qxl-vga',
  qxl2: 'qxl-vga',
  qxl3: 'qxl-vga',
  qxl4: 'qxl-vga',
  virtio: 'virtio-vga',
  'virtio-gl': 'virtio-vga-gl',
};

const SCSI_CONTROLLERS: Record<string, string> = {
  lsi: 'lsi',
  lsi53c810: 'lsi53c810',
  megasas: 'megasas',
  pvscsi: 'pvscsi',
  'virtio-scsi-pci': 'virtio-scsi-pci',
  'virtio-scsi-single': 'virtio-scsi-pci',
};

const DISK = /^(scsi|virtio|ide|sata)(\d+)$/;

function driveFormat(file: string, opts: Record<string, string>): string {
  if (opts['format'] !== undefined) return opts['format'];
  const ext = /\.(raw|qcow2|vmdk)$/.exec(file)?.[1];
  return ext ?? 'raw';
}

/** Boot indexes from `boot: order=a;b;c` (qemu-server numbers them from 100 up). */
function bootIndexes(boot: string | undefined): Map<string, number> {
  const order = boot === undefined ? undefined : parsePropertyString(boot, 'legacy')['order'];
  const out = new Map<string, number>();
  (order ?? '').split(';').filter(Boolean).forEach((dev, i) => out.set(dev, 100 + i));
  return out;
}

function diskArgs(input: VmCmdlineInput, key: string, bus: string, index: number, bootindex: number | undefined, state: { scsi: boolean; ahci: boolean }): string[] {
  const opts = parsePropertyString(input.props[key] ?? '', 'file');
  const volume = opts['file'] ?? '';
  const cdrom = opts['media'] === 'cdrom' || volume === 'cdrom' || volume === 'none';
  const args: string[] = [];
  const drive = [`if=none`, `id=drive-${key}`];
  if (volume !== 'none' && volume !== 'cdrom') {
    const file = volume.startsWith('/') ? volume : input.resolveVolume(volume);
    drive.unshift(`file=${file}`);
    drive.push(`format=${driveFormat(file, opts)}`);
  }
  if (cdrom) drive.push('media=cdrom');
  if (opts['cache'] !== undefined) drive.push(`cache=${opts['cache']}`);
  if (opts['aio'] !== undefined) drive.push(`aio=${opts['aio']}`);
  if (opts['discard'] === 'on') drive.push('discard=unmap');
  if (truthy(opts['ro'])) drive.push('readonly=on');
  if (opts['detect_zeroes'] !== undefined) drive.push(`detect-zeroes=${truthy(opts['detect_zeroes']) ? 'on' : 'off'}`);
  args.push('-drive', drive.join(','));
  const extra = [...(bootindex !== undefined ? [`bootindex=${bootindex}`] : []), ...(opts['serial'] !== undefined ? [`serial=${opts['serial']}`] : [])];
  if (bus === 'virtio') {
    args.push('-device', [`virtio-blk-pci`, `drive=drive-${key}`, `id=${key}`, ...extra].join(','));
  } else if (bus === 'scsi') {
    if (!state.scsi) {
      const hw = input.props['scsihw'] ?? 'lsi';
      const dev = SCSI_CONTROLLERS[hw];
      if (dev === undefined) throw new Error(`unsupported scsihw '${hw}'`);
      args.unshift('-device', `${dev},id=scsihw0`);
      state.scsi = true;
    }
    const where = (input.props['scsihw'] ?? 'lsi').startsWith('virtio-scsi') ? `channel=0,scsi-id=0,lun=${index}` : `scsi-id=${index}`;
    args.push('-device', [cdrom ? 'scsi-cd' : 'scsi-hd', 'bus=scsihw0.0', where, `drive=drive-${key}`, `id=${key}`, ...extra].join(','));
  } else if (bus === 'ide') {
    args.push('-device', [cdrom ? 'ide-cd' : 'ide-hd', `bus=ide.${Math.floor(index / 2)}`, `unit=${index % 2}`, `drive=drive-${key}`, `id=${key}`, ...extra].join(','));
  } else {
    if (!state.ahci) {
      args.unshift('-device', 'ahci,id=ahci0,multifunction=on');
      state.ahci = true;
    }
    args.push('-device', [cdrom ? 'ide-cd' : 'ide-hd', `bus=ahci0.${index}`, `drive=drive-${key}`, `id=${key}`, ...extra].join(','));
  }
  return args;
}

/** The QEMU argv (without the binary) for starting the VM in the background. */
export function buildVmCmdline(input: VmCmdlineInput): string[] {
  const { vmid, props } = input;
  const run = vmRunPaths(input.qemuRunDir, vmid);
  const cmd: string[] = ['-name', `${props['name'] ?? `VM${vmid}`},debug-threads=on`, '-no-user-config', '-nodefaults'];
  cmd.push('-chardev', `socket,id=qmp,path=${run.qmp},server=on,wait=off`, '-mon', 'chardev=qmp,mode=control');
  cmd.push('-pidfile', run.pid, '-daemonize');
  const smbios = props['smbios1'] === undefined ? undefined : parsePropertyString(props['smbios1'])['uuid'];
  if (smbios !== undefined) cmd.push('-smbios', `type=1,uuid=${smbios}`);
  const sockets = Number(props['sockets'] ?? 1);
  const cores = Number(props['cores'] ?? 1);
  const vcpus = props['vcpus'] === undefined ? sockets * cores : Number(props['vcpus']);
  cmd.push('-smp', `${vcpus},sockets=${sockets},cores=${cores},maxcpus=${sockets * cores}`);
  const memory = Number(parsePropertyString(props['memory'] ?? '512', 'current')['current'] ?? 512);
  cmd.push('-m', String(memory));
  const machine = (props['machine'] === undefined ? 'pc' : parsePropertyString(props['machine'], 'type')['type'] ?? 'pc').replace(/\+pve\d+$/, '');
  cmd.push('-machine', `type=${machine}`, '-accel', input.accel);
  const cpu = props['cpu'] === undefined ? 'kvm64' : parsePropertyString(props['cpu'], 'cputype')['cputype'] ?? 'kvm64';
  cmd.push('-cpu', cpu);
  if (props['vmgenid'] !== undefined && props['vmgenid'] !== '0') cmd.push('-device', `vmgenid,guid=${props['vmgenid']}`);
  cmd.push('-boot', 'menu=on,strict=on,reboot-timeout=1000');

  const vga = parsePropertyString(props['vga'] ?? 'std', 'type');
  const vgaType = vga['type'] ?? 'std';
  if (vgaType !== 'none' && !/^serial\d$/.test(vgaType)) {
    const dev = VGA_DEVICES[vgaType];
    if (dev === undefined) throw new Error(`unsupported vga type '${vgaType}'`);
    cmd.push('-device', `${dev},id=vga${vga['memory'] !== undefined && dev === 'VGA' ? `,vgamem_mb=${vga['memory']}` : ''}`);
    cmd.push('-vnc', `unix:${run.vnc},password=on`);
  } else cmd.push('-display', 'none');

  for (let n = 0; n < 4; n += 1) {
    const serial = props[`serial${n}`];
    if (serial === undefined) continue;
    if (serial === 'socket') cmd.push('-chardev', `socket,id=serial${n},path=${run.serial(n)},server=on,wait=off`);
    else cmd.push('-chardev', `serial,id=serial${n},path=${serial}`);
    cmd.push('-device', `isa-serial,chardev=serial${n}`);
  }

  const agent = props['agent'] === undefined ? {} : parsePropertyString(props['agent'], 'enabled');
  if (truthy(agent['enabled'])) {
    cmd.push('-chardev', `socket,path=${run.qga},server=on,wait=off,id=qga0`);
    if (agent['type'] === 'isa') cmd.push('-device', 'isa-serial,chardev=qga0');
    else cmd.push('-device', 'virtio-serial,id=qga0', '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0');
  }

  const boot = bootIndexes(props['boot']);
  const state = { scsi: false, ahci: false };
  const disks = Object.keys(props)
    .map((k) => ({ key: k, m: DISK.exec(k) }))
    .filter((d): d is { key: string; m: RegExpExecArray } => d.m !== null)
    .sort((a, b) => a.key.localeCompare(b.key, 'en', { numeric: true }));
  for (const d of disks) cmd.push(...diskArgs(input, d.key, d.m[1] ?? '', Number(d.m[2]), boot.get(d.key), state));

  // vhost-user-fs needs the guest's RAM shared with virtiofsd: one memfd backend as the only NUMA node.
  const shares = virtiofsShares(props);
  if (shares.length > 0) cmd.push('-object', `memory-backend-memfd,id=mem,size=${memory}M,share=on`, '-numa', 'node,memdev=mem');
  for (const share of shares) {
    cmd.push('-chardev', `socket,id=virtiofs${share.index},path=${run.virtiofs(share.index)}`);
    cmd.push('-device', `vhost-user-fs-pci,queue-size=1024,chardev=virtiofs${share.index},tag=${share.dirid}`);
  }

  if (props['args'] !== undefined) cmd.push(...splitArgs(props['args']));
  return cmd;
}
