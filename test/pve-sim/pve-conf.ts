/**
 * The guest config file format of /etc/pve (pve-container's and qemu-server's `.conf` files):
 * description as leading `#` lines, `key: value` lines, raw `lxc.*` lines (`lxc.key: v` or
 * `lxc.key = v`), a `[pve:pending]` section and one section per snapshot. Pure functions, no I/O.
 */
import { createHash } from 'node:crypto';
import type { PveGuestConfig } from './types.js';

/** Raw LXC keys pve-container accepts in a CT config (Config.pm's allow-list, as documented). */
const ALLOWED_LXC_KEYS = new Set([
  'lxc.apparmor.profile', 'lxc.apparmor.allow_incomplete', 'lxc.apparmor.allow_nesting', 'lxc.apparmor.raw',
  'lxc.selinux.context', 'lxc.include', 'lxc.arch', 'lxc.uts.name',
  'lxc.signal.halt', 'lxc.signal.reboot', 'lxc.signal.stop',
  'lxc.init.cmd', 'lxc.init.cwd', 'lxc.init.uid', 'lxc.init.gid', 'lxc.init.groups',
  'lxc.pty.max', 'lxc.console.logfile', 'lxc.console.path', 'lxc.tty.max', 'lxc.devtty.dir',
  'lxc.hook.autodev', 'lxc.autodev', 'lxc.kmsg', 'lxc.mount.fstab', 'lxc.mount.entry', 'lxc.mount.auto',
  'lxc.rootfs.mount', 'lxc.cap.drop', 'lxc.cap.keep', 'lxc.seccomp.profile', 'lxc.seccomp.notify.proxy',
  'lxc.seccomp.notify.cookie', 'lxc.idmap', 'lxc.hook.pre-start', 'lxc.hook.pre-mount', 'lxc.hook.mount',
  'lxc.hook.start', 'lxc.hook.stop', 'lxc.hook.post-stop', 'lxc.hook.clone', 'lxc.hook.destroy',
  'lxc.hook.version', 'lxc.log.level', 'lxc.log.file', 'lxc.start.auto', 'lxc.start.delay', 'lxc.start.order',
  'lxc.group', 'lxc.environment', 'lxc.environment.runtime', 'lxc.environment.hooks',
  // Only the sysctls the IPC namespace isolates (namespaces(7)); any other would reach the host.
  'lxc.sysctl.fs.mqueue', 'lxc.sysctl.kernel.msgmax', 'lxc.sysctl.kernel.msgmnb', 'lxc.sysctl.kernel.msgmni',
  'lxc.sysctl.kernel.sem', 'lxc.sysctl.kernel.shmall', 'lxc.sysctl.kernel.shmmax', 'lxc.sysctl.kernel.shmmni',
  'lxc.sysctl.kernel.shm_rmid_forced',
]);
/** Deprecated names still accepted (with a warning). */
const DEPRECATED_LXC_KEYS = new Set(['lxc.init_cmd', 'lxc.aa_profile', 'lxc.id_map', 'lxc.utsname', 'lxc.haltsignal']);
const ALLOWED_LXC_PREFIXES = ['lxc.cgroup2.', 'lxc.prlimit.', 'lxc.net.'];

/** Why a raw lxc key is refused, or undefined when it is allowed; `warning` for accepted-with-warning keys. */
export function checkRawLxcKey(key: string): { error?: string; warning?: string } {
  if (key === 'lxc.rootfs.path') return { error: 'lxc.rootfs.path is auto generated from rootfs' };
  if (key === 'lxc.rootfs.options') return { error: 'lxc.rootfs.options is not supported, please use mount point options' };
  if (ALLOWED_LXC_KEYS.has(key)) return {};
  if (ALLOWED_LXC_PREFIXES.some((p) => key.startsWith(p))) return {};
  if (key.startsWith('lxc.cgroup.')) return { warning: `${key} is deprecated, use lxc.cgroup2.* instead` };
  if (DEPRECATED_LXC_KEYS.has(key)) return { warning: `${key} is deprecated` };
  return { error: `${key} is not supported` };
}

export interface ParsedConf {
  config: PveGuestConfig;
  /** Lines that could not be used, as pve-container warns about them. */
  warnings: string[];
}

type Section = { props: Record<string, string>; lxc: Array<[string, string]>; description?: string };

function decodeDescriptionLine(line: string): string {
  return line.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function encodeDescriptionLine(line: string): string {
  // eslint-disable-next-line no-control-regex
  return line.replace(/[%\x00-\x1f\x7f]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** Parses a guest config. `kind` selects whether raw `lxc.*` lines are meaningful. */
export function parseGuestConf(text: string, kind: 'lxc' | 'qemu'): ParsedConf {
  const warnings: string[] = [];
  const main: Section = { props: {}, lxc: [] };
  const config: PveGuestConfig = { props: main.props, lxc: main.lxc };
  let current: Section = main;
  let descr: string[] = [];
  const flushDescription = (): void => {
    if (descr.length > 0) current.description = descr.join('\n');
    descr = [];
  };
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const section = /^\[([^\]]+)\]\s*$/.exec(line);
    if (section) {
      flushDescription();
      const name = section[1] ?? '';
      const next: Section = { props: {}, lxc: [] };
      if (name === 'pve:pending') {
        config.pending = { props: next.props, lxc: next.lxc };
      } else {
        config.snapshots ??= {};
        config.snapshots[name] = next;
      }
      current = next;
      continue;
    }
    const comment = /^#(.*)$/.exec(line);
    if (comment) {
      descr.push(decodeDescriptionLine(comment[1] ?? ''));
      continue;
    }
    const raw = /^(lxc\.[a-z0-9_.\-]+)(?:\s*:\s*|\s*=\s*)(.*)$/i.exec(line);
    if (raw && kind === 'lxc') {
      const key = raw[1] ?? '';
      const check = checkRawLxcKey(key);
      if (check.error) throw new Error(`unable to parse config line '${line}': ${check.error}`);
      if (check.warning) warnings.push(check.warning);
      current.lxc.push([key, raw[2] ?? '']);
      continue;
    }
    const kv = /^([a-z][a-z0-9_\-]*)\s*:\s*(.*?)\s*$/i.exec(line);
    if (kv) {
      current.props[kv[1] ?? ''] = kv[2] ?? '';
      continue;
    }
    warnings.push(`unable to parse config: ${line}`);
  }
  flushDescription();
  if (main.description !== undefined) config.description = main.description;
  if (config.snapshots) {
    for (const snap of Object.values(config.snapshots)) {
      if (snap.description === undefined) delete snap.description;
    }
  }
  return { config, warnings };
}

function writeSection(section: Section, envFirst: boolean): string {
  let out = '';
  if (section.description !== undefined && section.description !== '') {
    for (const l of section.description.split('\n')) out += `#${encodeDescriptionLine(l)}\n`;
  }
  for (const key of Object.keys(section.props).sort()) {
    const value = section.props[key] ?? '';
    if (/[\n\r]/.test(value)) throw new Error(`property '${key}' contains a newline`);
    out += `${key}: ${value}\n`;
  }
  const env = section.lxc.filter(([k]) => k === 'lxc.environment.runtime');
  const other = section.lxc.filter(([k]) => k !== 'lxc.environment.runtime');
  for (const [k, v] of envFirst ? [...env, ...other] : section.lxc) {
    if (/[\n\r]/.test(v)) throw new Error(`raw key '${k}' contains a newline`);
    out += `${k}: ${v}\n`;
  }
  return out;
}

/** Writes a guest config the way pve-container orders it. */
export function writeGuestConf(config: PveGuestConfig): string {
  const main: Section = { props: config.props, lxc: config.lxc };
  if (config.description !== undefined) main.description = config.description;
  let out = writeSection(main, true);
  if (config.pending && (Object.keys(config.pending.props).length > 0 || config.pending.lxc.length > 0)) {
    out += `\n[pve:pending]\n${writeSection({ props: config.pending.props, lxc: config.pending.lxc }, true)}`;
  }
  for (const [name, snap] of Object.entries(config.snapshots ?? {})) {
    out += `\n[${name}]\n${writeSection(snap, true)}`;
  }
  return out;
}

/** The config digest Proxmox returns and checks: SHA-1 of the raw file. */
export function confDigest(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** `env` as the API shows it: the `lxc.environment.runtime` lines joined with NUL. */
export function foldRuntimeEnv(lxc: Array<[string, string]>): string | undefined {
  const vars = lxc.filter(([k]) => k === 'lxc.environment.runtime').map(([, v]) => v);
  return vars.length > 0 ? vars.join('\0') : undefined;
}

/** Replaces the `lxc.environment.runtime` lines with the entries of a NUL-separated `env`. */
export function unfoldRuntimeEnv(lxc: Array<[string, string]>, env: string | undefined): Array<[string, string]> {
  const rest = lxc.filter(([k]) => k !== 'lxc.environment.runtime');
  const vars: Array<[string, string]> = (env ?? '').split('\0').filter((v) => v !== '').map((v) => ['lxc.environment.runtime', v]);
  return [...vars, ...rest];
}
