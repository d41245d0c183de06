/**
 * Turns a Proxmox CT config into an LXC config, modelled on pve-container's
 * update_lxc_config: arch, includes, id map, console/tty, TERM, hostname,
 * cgroup limits in the keys this host's cgroup layout supports, rootfs path,
 * init command, runtime environment, network (only inside the simulator's own
 * network namespace), /dev/shm for application containers, then the raw
 * `lxc.*` keys in file order. Pure apart from the cached host probes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { PveGuestConfig } from './types.js';
import { UNPRIVILEGED_ID_COUNT, UNPRIVILEGED_ID_OFFSET } from './volumes.js';

/** What the host's cgroup layout and LXC build support. */
export interface HostLxcSupport {
  /** 1: legacy/hybrid hierarchy (`lxc.cgroup.*` keys); 2: pure unified (`lxc.cgroup2.*`). */
  cgroupVersion: 1 | 2;
  /** cgroup v1 memory controller accounts swap (memory.memsw.*). */
  memsw: boolean;
  /** LXC knows `lxc.environment.runtime` (LXC 6+ / lxc-pve); otherwise `lxc.environment` is used. */
  runtimeEnvKey: boolean;
  /** CPUs on the host (caps `cores`). */
  cpus: number;
  /** Where LXC's shipped config snippets live. */
  lxcConfigDir: string;
}

let cachedSupport: HostLxcSupport | undefined;

const LIBLXC_CANDIDATES = ['/usr/lib/x86_64-linux-gnu/liblxc.so.1', '/usr/lib/aarch64-linux-gnu/liblxc.so.1', '/usr/lib/liblxc.so.1'];

/** Probes the host once: cgroup layout, swap accounting, LXC config keys. */
export function detectHostLxcSupport(): HostLxcSupport {
  if (cachedSupport) return cachedSupport;
  const cgroupVersion = existsSync('/sys/fs/cgroup/cgroup.controllers') ? 2 : 1;
  const memsw = cgroupVersion === 1 && existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');
  const liblxc = LIBLXC_CANDIDATES.find((p) => existsSync(p));
  const runtimeEnvKey = liblxc !== undefined && readFileSync(liblxc).includes('lxc.environment.runtime');
  cachedSupport = { cgroupVersion, memsw, runtimeEnvKey, cpus: availableParallelism(), lxcConfigDir: '/usr/share/lxc/config' };
  return cachedSupport;
}

/** Everything generateLxcConfig needs beyond the CT config. */
export interface LxcConfigContext {
  lxcPath: string;
  support: HostLxcSupport;
  /** The simulator's own network namespace; netN is only honoured inside it. */
  netns?: string;
  /** Extra hooks the engine installs (the post-stop unmount). */
  postStopHook?: string;
  /** The `script.up` hook that moves a veth's host end into `netns` onto its bridge (sim-netns.ts). */
  netUpHook?: string;
}

/** The generated config plus notes for the task log. */
export interface GeneratedLxcConfig {
  entries: Array<[string, string]>;
  text: string;
  notes: string[];
}

/** Ostypes for which Debian 12's lxc package ships `<ostype>.common.conf` and `<ostype>.userns.conf`. */
const OSTYPES_WITH_CONFIG = new Set(['alpine', 'archlinux', 'centos', 'debian', 'devuan', 'fedora', 'gentoo', 'opensuse', 'ubuntu']);

/** A parsed Proxmox property string (`vol,key=value,...`). */
export type PropertyString = Record<string, string>;

/** Parses `a,b=c,d=e`; a leading word without `=` is stored under `defaultKey`. */
export function parsePropertyString(value: string, defaultKey: string): PropertyString {
  const out: PropertyString = {};
  value.split(',').forEach((part, i) => {
    if (part === '') return;
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (i !== 0) throw new Error(`invalid property string '${value}': '${part}' has no value`);
      out[defaultKey] = part;
    } else {
      out[part.slice(0, eq)] = part.slice(eq + 1);
    }
  });
  return out;
}

function boolProp(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  return value === '1' || value === 'yes' || value === 'on' || value === 'true';
}

function numberProp(props: Record<string, string>, key: string): number | undefined {
  const raw = props[key];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${key}: '${raw}' is not a number`);
  return n;
}

/** Whether the CT is unprivileged (the stored config has `unprivileged: 1`). */
export function isUnprivileged(conf: PveGuestConfig): boolean {
  return boolProp(conf.props.unprivileged, false);
}

/** The CT's environment entries: `env` (NUL-separated) replaces raw lxc.environment.runtime lines. */
export function runtimeEnvironment(conf: PveGuestConfig): string[] {
  const env = conf.props.env;
  if (env !== undefined && env !== '') return env.split('\0').filter((e) => e !== '');
  return conf.lxc.filter(([k]) => k === 'lxc.environment.runtime').map(([, v]) => v);
}

/** The entrypoint given to lxc.init.cmd (default /sbin/init). */
export function entrypointOf(conf: PveGuestConfig): string {
  const entrypoint = conf.props.entrypoint;
  return entrypoint === undefined || entrypoint === '' ? '/sbin/init' : entrypoint;
}

function cgroupEntries(conf: PveGuestConfig, support: HostLxcSupport): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const memoryMb = numberProp(conf.props, 'memory') ?? 512;
  const swapMb = numberProp(conf.props, 'swap') ?? 512;
  const memBytes = Math.round(memoryMb * 1024 * 1024);
  const swapBytes = Math.round(swapMb * 1024 * 1024);
  const cpulimit = numberProp(conf.props, 'cpulimit');
  const cpuunits = numberProp(conf.props, 'cpuunits');
  const cores = numberProp(conf.props, 'cores');
  const cpuset = cores !== undefined && cores > 0 ? `0-${Math.min(cores, support.cpus) - 1}` : undefined;
  if (support.cgroupVersion === 2) {
    out.push(['lxc.cgroup2.memory.max', String(memBytes)]);
    out.push(['lxc.cgroup2.memory.high', String(memBytes)]);
    out.push(['lxc.cgroup2.memory.swap.max', String(swapBytes)]);
    if (cpulimit !== undefined && cpulimit > 0) out.push(['lxc.cgroup2.cpu.max', `${Math.round(cpulimit * 100000)} 100000`]);
    if (cpuunits !== undefined) out.push(['lxc.cgroup2.cpu.weight', String(Math.min(10000, Math.max(1, cpuunits)))]);
    if (cpuset) out.push(['lxc.cgroup2.cpuset.cpus', cpuset]);
    return out;
  }
  out.push(['lxc.cgroup.memory.limit_in_bytes', String(memBytes)]);
  if (support.memsw) out.push(['lxc.cgroup.memory.memsw.limit_in_bytes', String(memBytes + swapBytes)]);
  if (cpulimit !== undefined && cpulimit > 0) {
    out.push(['lxc.cgroup.cpu.cfs_period_us', '100000']);
    out.push(['lxc.cgroup.cpu.cfs_quota_us', String(Math.round(cpulimit * 100000))]);
  }
  if (cpuunits !== undefined) out.push(['lxc.cgroup.cpu.shares', String(Math.min(262144, Math.max(2, cpuunits)))]);
  if (cpuset) out.push(['lxc.cgroup.cpuset.cpus', cpuset]);
  return out;
}

function networkEntries(vmid: number, conf: PveGuestConfig, ctx: LxcConfigContext, notes: string[]): Array<[string, string]> {
  const nets = Object.keys(conf.props)
    .filter((k) => /^net\d$/.test(k))
    .sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
  if (ctx.netns === undefined || nets.length === 0) {
    if (nets.length > 0) notes.push(`network devices ${nets.join(', ')} ignored: the simulator has no network namespace of its own`);
    notes.push('container has no network (lxc.net.0.type = empty)');
    return [['lxc.net.0.type', 'empty']];
  }
  const out: Array<[string, string]> = [];
  for (const key of nets) {
    const n = key.slice(3);
    const net = parsePropertyString(conf.props[key] ?? '', 'name');
    if (!net.name) throw new Error(`${key}: missing property 'name'`);
    const p = `lxc.net.${n}`;
    out.push([`${p}.type`, 'veth'], [`${p}.veth.pair`, `veth${vmid}i${n}`], [`${p}.name`, net.name]);
    // The bridge lives in the simulator's namespace: the up hook attaches the host end there
    // (lxc.net.N.link would name a bridge of the host's own namespace).
    if (ctx.netUpHook !== undefined) out.push([`${p}.script.up`, `${ctx.netUpHook} ${ctx.netns} ${net.bridge ?? '-'}`]);
    if (net.hwaddr) out.push([`${p}.hwaddr`, net.hwaddr]);
    if (net.mtu) out.push([`${p}.mtu`, net.mtu]);
    if (boolProp(net['host-managed'], false)) {
      if (net.ip && /\//.test(net.ip)) out.push([`${p}.ipv4.address`, net.ip]);
      if (net.gw) out.push([`${p}.ipv4.gateway`, net.gw]);
      if (net.ip6 && /\//.test(net.ip6)) out.push([`${p}.ipv6.address`, net.ip6]);
      if (net.gw6) out.push([`${p}.ipv6.gateway`, net.gw6]);
    }
    if (!boolProp(net.link_down, false)) out.push([`${p}.flags`, 'up']);
  }
  notes.push(`network devices ${nets.join(', ')} attached inside network namespace '${ctx.netns}'`);
  return out;
}

/** Raw keys the engine writes itself or translates. */
const TRANSLATED_RAW_KEYS = new Set(['lxc.environment.runtime', 'lxc.environment.hooks']);

/** Generates `<lxcPath>/<vmid>/config` for `conf`. Throws naming the bad field. */
export function generateLxcConfig(vmid: number, conf: PveGuestConfig, ctx: LxcConfigContext): GeneratedLxcConfig {
  const { support } = ctx;
  const notes: string[] = [];
  const entries: Array<[string, string]> = [];
  const add = (key: string, value: string): void => {
    if (/[\n\0]/.test(value)) throw new Error(`${key}: value must not contain newlines or NUL`);
    entries.push([key, value]);
  };
  const props = conf.props;
  const unprivileged = isUnprivileged(conf);
  const arch = props.arch ?? 'amd64';
  if (!/^(amd64|i386|arm64|armhf|riscv32|riscv64)$/.test(arch)) throw new Error(`arch: value '${arch}' does not have a value in the enumeration 'amd64, i386, arm64, armhf, riscv32, riscv64'`);
  add('lxc.arch', arch);
  const ostype = props.ostype ?? 'unmanaged';
  const known = OSTYPES_WITH_CONFIG.has(ostype);
  add('lxc.include', join(support.lxcConfigDir, known ? `${ostype}.common.conf` : 'common.conf'));
  if (unprivileged) add('lxc.include', join(support.lxcConfigDir, known ? `${ostype}.userns.conf` : 'userns.conf'));
  const rawIdmap = conf.lxc.filter(([k]) => k === 'lxc.idmap');
  if (unprivileged && rawIdmap.length === 0) {
    add('lxc.idmap', `u 0 ${UNPRIVILEGED_ID_OFFSET} ${UNPRIVILEGED_ID_COUNT}`);
    add('lxc.idmap', `g 0 ${UNPRIVILEGED_ID_OFFSET} ${UNPRIVILEGED_ID_COUNT}`);
  }
  const cmode = props.cmode ?? 'tty';
  if (!/^(tty|console|shell)$/.test(cmode)) throw new Error(`cmode: value '${cmode}' does not have a value in the enumeration 'shell, console, tty'`);
  const console = boolProp(props.console, true);
  const tty = numberProp(props, 'tty') ?? 2;
  if (!Number.isInteger(tty) || tty < 0 || tty > 6) throw new Error(`tty: value must be an integer from 0 to 6`);
  if (!console) {
    // Without a console LXC 5.0.2 cannot create the tty dir, so ttys go too.
    add('lxc.console.path', 'none');
    add('lxc.tty.max', '0');
  } else {
    add('lxc.tty.max', String(cmode === 'tty' ? tty : 0));
  }
  add('lxc.environment', 'TERM=linux');
  const hostname = props.hostname ?? `CT${vmid}`;
  add('lxc.uts.name', hostname);
  for (const [k, v] of cgroupEntries(conf, support)) add(k, v);
  add('lxc.rootfs.path', join(ctx.lxcPath, String(vmid), 'rootfs'));
  const entrypoint = entrypointOf(conf);
  add('lxc.init.cmd', entrypoint);
  for (const [k, v] of networkEntries(vmid, conf, ctx, notes)) add(k, v);
  for (const entry of runtimeEnvironment(conf)) {
    if (!/^\w+=/.test(entry)) throw new Error(`env: invalid entry '${entry}' (need NAME=value)`);
    add(support.runtimeEnvKey ? 'lxc.environment.runtime' : 'lxc.environment', entry);
  }
  if (entrypoint !== '/sbin/init') add('lxc.mount.entry', 'shm dev/shm tmpfs rw,nosuid,nodev,create=dir 0 0');
  if (ctx.postStopHook) add('lxc.hook.post-stop', ctx.postStopHook);
  for (const [key, value] of conf.lxc) {
    if (key === 'lxc.rootfs.path') throw new Error('lxc.rootfs.path is auto generated from rootfs');
    if (TRANSLATED_RAW_KEYS.has(key)) {
      if (key === 'lxc.environment.hooks') notes.push('lxc.environment.hooks is not supported by this LXC version, ignored');
      continue;
    }
    add(key, value);
  }
  const text = `${entries.map(([k, v]) => (v === '' ? `${k} =` : `${k} = ${v}`)).join('\n')}\n`;
  return { entries, text, notes };
}
