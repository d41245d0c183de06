/**
 * OCI `mounts` -> raw `lxc.mount.entry` lines (fstab syntax, destination relative to the rootfs).
 * The kernel filesystems LXC mounts itself (proc, sysfs, the /dev tmpfs, devpts, the cgroup
 * tree) are not repeated. /dev/shm and /dev/mqueue are not mounted by LXC for a container whose
 * init is not /sbin/init, so they are turned into entries like any other tmpfs or mqueue mount.
 */
import { joinPointer } from '../../../oci/problems.js';
import type { Mount } from '../../../oci/spec.js';
import type { Findings } from '../../shared/findings.js';

export type SourceKind = 'file' | 'dir';

/** Destinations engines bind-mount as single files. */
const FILE_DESTINATIONS: ReadonlySet<string> = new Set(['/etc/hosts', '/etc/resolv.conf', '/etc/hostname', '/run/.containerenv']);

/** Kernel filesystems LXC provides itself, by type and the only destination where that holds. */
const PROVIDED_BY_LXC: ReadonlyArray<{ type: string; destination: string }> = [
  { type: 'proc', destination: '/proc' },
  { type: 'sysfs', destination: '/sys' },
  { type: 'tmpfs', destination: '/dev' },
  { type: 'devpts', destination: '/dev/pts' },
  { type: 'cgroup', destination: '/sys/fs/cgroup' },
  { type: 'cgroup2', destination: '/sys/fs/cgroup' },
];

/** Propagation that is LXC's own default for mount entries; anything else cannot be set per entry. */
const PRIVATE_PROPAGATION: ReadonlySet<string> = new Set(['private', 'rprivate']);
const FLAG_OPTIONS: ReadonlySet<string> = new Set(['ro', 'rw', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'relatime', 'norelatime', 'noatime', 'strictatime', 'nodiratime']);

/** Mount options the backend recognises (features.json `mountOptions`: no filesystem-specific data options). */
export const SUPPORTED_MOUNT_OPTIONS: readonly string[] = ['bind', 'rbind', ...PRIVATE_PROPAGATION, ...FLAG_OPTIONS];
/**
 * The tmpfs options with a value, each with the exact form its value may take. An option goes into
 * the fstab-style options field of `lxc.mount.entry` as it is, so a looser check would let a value
 * carry more options (`size=1m,rbind` binds the source), shift the fields (a space) or break the
 * config line (a newline).
 */
const TMPFS_VALUE_OPTIONS: ReadonlyMap<string, RegExp> = new Map([
  ['mode', /^[0-7]{1,4}$/],
  ['size', /^[0-9]+[kmgKMG%]?$/],
  ['nr_blocks', /^[0-9]+[kmgKMG%]?$/],
  ['nr_inodes', /^[0-9]+[kmgKMG]?$/],
  ['uid', /^[0-9]+$/],
  ['gid', /^[0-9]+$/],
]);
/** A tmpfs or mqueue source is only a name; anything but a plain word is replaced by the type. */
const PLAIN_NAME = /^[A-Za-z0-9_.-]+$/;

function normalize(destination: string): string {
  const trimmed = destination.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed.replace(/\/{2,}/g, '/');
}

function mountType(mount: Mount): string {
  const options = mount.options ?? [];
  if (mount.type === 'bind' || ((mount.type === undefined || mount.type === 'none') && (options.includes('bind') || options.includes('rbind')))) return 'bind';
  return mount.type ?? '';
}

interface EntryContext {
  at: string;
  findings: Findings;
}

/** The option list for a bind entry; undefined when an option cannot be honoured (already refused). */
function bindOptions(options: readonly string[], kind: SourceKind, ctx: EntryContext): string | undefined {
  const out = [options.includes('rbind') ? 'rbind' : 'bind'];
  let ok = true;
  for (const option of options) {
    if (option === 'bind' || option === 'rbind' || PRIVATE_PROPAGATION.has(option)) continue;
    if (FLAG_OPTIONS.has(option)) out.push(option);
    else {
      ctx.findings.refuse(joinPointer(ctx.at, 'options'), `mount option ${JSON.stringify(option)} is not supported for bind mounts by the proxmox-lxc backend`);
      ok = false;
    }
  }
  out.push(`create=${kind}`);
  return ok ? out.join(',') : undefined;
}

function tmpfsOptions(options: readonly string[], ctx: EntryContext): string | undefined {
  const out: string[] = [];
  let ok = true;
  options.forEach((option, index) => {
    const equals = option.indexOf('=');
    const valueForm = equals > 0 ? TMPFS_VALUE_OPTIONS.get(option.slice(0, equals)) : undefined;
    if (FLAG_OPTIONS.has(option) || valueForm?.test(option.slice(equals + 1)) === true) out.push(option);
    else if (valueForm !== undefined) {
      ctx.findings.refuse(joinPointer(ctx.at, 'options', index), `${JSON.stringify(option)}: the value of ${option.slice(0, equals)} must match ${String(valueForm)} (the option goes into an lxc.mount.entry as it is)`);
      ok = false;
    } else if (!PRIVATE_PROPAGATION.has(option)) {
      ctx.findings.refuse(joinPointer(ctx.at, 'options', index), `mount option ${JSON.stringify(option)} is not supported for this mount by the proxmox-lxc backend`);
      ok = false;
    }
  });
  out.push('create=dir');
  return ok ? out.join(',') : undefined;
}

function unsafeForFstab(value: string): boolean {
  return /\s/.test(value) || /[\u0000-\u001f\u007f]/.test(value);
}

function hasDotDot(path: string): boolean {
  return path.split('/').includes('..');
}

export interface MountOptions {
  /** What each bind source is (the backend knows by stat); unknown sources are guessed from the destination. */
  sourceKinds?: Readonly<Record<string, SourceKind>>;
}

export function translateMounts(mounts: readonly Mount[], options: MountOptions, findings: Findings): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  mounts.forEach((mount, index) => {
    const at = joinPointer('/mounts', index);
    const ctx: EntryContext = { at, findings };
    const destination = normalize(mount.destination.startsWith('/') ? mount.destination : `/${mount.destination}`);
    const type = mountType(mount);
    if (PROVIDED_BY_LXC.some((p) => p.type === type && p.destination === destination)) return;
    if (destination === '/') {
      findings.refuse(joinPointer(at, 'destination'), 'a mount over the root is not supported by the proxmox-lxc backend');
      return;
    }
    if (unsafeForFstab(destination) || hasDotDot(destination)) {
      findings.refuse(joinPointer(at, 'destination'), 'must not contain white space, control characters or ".." (lxc.mount.entry is fstab syntax)');
      return;
    }
    const target = destination.slice(1);
    if ((mount.uidMappings ?? []).length > 0 || (mount.gidMappings ?? []).length > 0) {
      findings.refuse(at, 'idmapped mounts are not supported by the proxmox-lxc backend');
      return;
    }
    const source = mount.source ?? '';
    if (type === 'bind') {
      if (!source.startsWith('/') || unsafeForFstab(source) || hasDotDot(source)) {
        findings.refuse(joinPointer(at, 'source'), 'a bind source must be an absolute host path without white space, control characters or ".."');
        return;
      }
      const kind = options.sourceKinds?.[source] ?? (FILE_DESTINATIONS.has(destination) ? 'file' : 'dir');
      const flags = bindOptions(mount.options ?? [], kind, ctx);
      if (flags !== undefined) entries.push(['lxc.mount.entry', `${source} ${target} none ${flags} 0 0`]);
      return;
    }
    if (type === 'tmpfs' || type === 'mqueue') {
      const name = PLAIN_NAME.test(source) ? source : type;
      const flags = tmpfsOptions(mount.options ?? [], ctx);
      if (flags !== undefined) entries.push(['lxc.mount.entry', `${name} ${target} ${type} ${flags} 0 0`]);
      return;
    }
    findings.refuse(joinPointer(at, 'type'), `${type === '' ? 'a mount without a type' : `mount type ${JSON.stringify(type)}`} at ${destination} is not supported by the proxmox-lxc backend`);
  });
  return entries;
}
