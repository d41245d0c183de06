// The runtime-spec rules the JSON schema cannot express (config.md / config-linux.md / runtime.md MUSTs, and
// runc's own refusals that callers already live with). Run only on a document that passed the schema.
import fs from 'node:fs';
import path from 'node:path';
import { joinPointer, type Problem } from './problems.js';
import type { Hook, Hooks, LinuxNamespaceType, Spec } from './spec.js';

export interface RuleOptions {
  /** Bundle directory: when given, a relative `root.path` is resolved against it and must be a directory. */
  bundleDir?: string;
}

// SemVer 2.0.0, as the grammar on semver.org defines it (no leading zeros, optional pre-release and build).
const numericId = '(?:0|[1-9]\\d*)';
const preReleaseId = '(?:0|[1-9]\\d*|\\d*[A-Za-z-][0-9A-Za-z-]*)';
const semver = new RegExp(
  `^${numericId}\\.${numericId}\\.${numericId}(?:-${preReleaseId}(?:\\.${preReleaseId})*)?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?$`,
);

const hookNames: ReadonlyArray<keyof Hooks> = [
  'prestart',
  'createRuntime',
  'createContainer',
  'startContainer',
  'poststart',
  'poststop',
];

const capabilityName = /^CAP_[A-Z0-9_]+$/;

/** True for configs meant for a POSIX host (anything but Windows): POSIX path rules apply. */
function isPosix(spec: Spec): boolean {
  return spec.windows === undefined;
}

/** Linux namespace rules apply to Linux configs: a `linux` section, or no other platform section at all. */
function isLinux(spec: Spec): boolean {
  if (spec.linux !== undefined) return true;
  return spec.windows === undefined && spec.solaris === undefined && spec.zos === undefined && spec.freebsd === undefined;
}

function checkVersion(spec: Spec, problems: Problem[]): void {
  if (!semver.test(spec.ociVersion)) {
    problems.push({ path: '/ociVersion', message: `must be SemVer 2.0.0 (got ${JSON.stringify(spec.ociVersion)})` });
  }
}

function checkRoot(spec: Spec, opts: RuleOptions, problems: Problem[]): void {
  const hyperV = spec.windows?.hyperv !== undefined;
  if (hyperV) {
    if (spec.root !== undefined) problems.push({ path: '/root', message: 'must not be set for a Hyper-V container' });
    return;
  }
  if (spec.root === undefined) {
    problems.push({ path: '/root', message: 'is required' });
    return;
  }
  const rootPath = spec.root.path;
  if (rootPath === '') {
    problems.push({ path: '/root/path', message: 'must not be empty' });
    return;
  }
  if (opts.bundleDir === undefined || !isPosix(spec)) return;
  const resolved = path.resolve(opts.bundleDir, rootPath);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(resolved);
  } catch {
    stat = undefined;
  }
  if (stat === undefined) problems.push({ path: '/root/path', message: `directory does not exist: ${resolved}` });
  else if (!stat.isDirectory()) problems.push({ path: '/root/path', message: `not a directory: ${resolved}` });
}

function checkProcess(spec: Spec, problems: Problem[]): void {
  const proc = spec.process;
  if (proc === undefined) return;
  if (isPosix(spec)) {
    if (!proc.cwd.startsWith('/')) problems.push({ path: '/process/cwd', message: 'must be an absolute path' });
    if (proc.args === undefined) problems.push({ path: '/process/args', message: 'is required' });
    else if (proc.args.length === 0) problems.push({ path: '/process/args', message: 'must have at least one entry' });
    if (proc.user !== undefined) {
      if (proc.user.uid === undefined) problems.push({ path: '/process/user/uid', message: 'is required' });
      if (proc.user.gid === undefined) problems.push({ path: '/process/user/gid', message: 'is required' });
    }
  } else if ((proc.args === undefined || proc.args.length === 0) && proc.commandLine === undefined) {
    problems.push({ path: '/process/args', message: 'must have at least one entry when commandLine is not set' });
  }

  const firstOfType = new Map<string, number>();
  (proc.rlimits ?? []).forEach((limit, index) => {
    const earlier = firstOfType.get(limit.type);
    if (earlier !== undefined) {
      problems.push({
        path: joinPointer('/process/rlimits', index, 'type'),
        message: `duplicate rlimit type ${limit.type} (also at /process/rlimits/${earlier})`,
      });
    } else {
      firstOfType.set(limit.type, index);
    }
  });

  const caps = proc.capabilities;
  if (caps !== undefined) {
    for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const) {
      (caps[set] ?? []).forEach((name, index) => {
        if (!capabilityName.test(name)) {
          problems.push({
            path: joinPointer('/process/capabilities', set, index),
            message: `must be a capability name such as CAP_CHOWN (got ${JSON.stringify(name)})`,
          });
        }
      });
    }
  }
}

function checkAnnotations(spec: Spec, problems: Problem[]): void {
  for (const key of Object.keys(spec.annotations ?? {})) {
    if (key === '') problems.push({ path: '/annotations/', message: 'key must not be empty' });
  }
}

function checkMounts(spec: Spec, problems: Problem[]): void {
  if (!isPosix(spec)) return;
  (spec.mounts ?? []).forEach((mount, index) => {
    if (!mount.destination.startsWith('/')) {
      problems.push({ path: joinPointer('/mounts', index, 'destination'), message: 'must be an absolute path' });
    }
    const hasUid = mount.uidMappings !== undefined && mount.uidMappings.length > 0;
    const hasGid = mount.gidMappings !== undefined && mount.gidMappings.length > 0;
    if (hasUid !== hasGid) {
      const missing = hasUid ? 'gidMappings' : 'uidMappings';
      const present = hasUid ? 'uidMappings' : 'gidMappings';
      problems.push({ path: joinPointer('/mounts', index, missing), message: `is required when ${present} is set` });
    }
  });
}

function checkHook(hook: Hook, at: string, problems: Problem[]): void {
  if (!hook.path.startsWith('/')) problems.push({ path: `${at}/path`, message: 'must be an absolute path' });
  if (hook.timeout !== undefined && !(hook.timeout > 0)) {
    problems.push({ path: `${at}/timeout`, message: 'must be greater than 0' });
  }
}

function checkHooks(spec: Spec, problems: Problem[]): void {
  if (spec.hooks === undefined || !isPosix(spec)) return;
  for (const name of hookNames) {
    (spec.hooks[name] ?? []).forEach((hook, index) => checkHook(hook, joinPointer('/hooks', name, index), problems));
  }
}

function checkLinux(spec: Spec, problems: Problem[]): void {
  if (!isLinux(spec)) return;
  const linux = spec.linux ?? {};
  const namespaces = linux.namespaces ?? [];
  const firstOfType = new Map<LinuxNamespaceType, number>();
  namespaces.forEach((ns, index) => {
    const earlier = firstOfType.get(ns.type);
    if (earlier !== undefined) {
      problems.push({
        path: joinPointer('/linux/namespaces', index, 'type'),
        message: `duplicate namespace type ${ns.type} (also at /linux/namespaces/${earlier})`,
      });
    } else {
      firstOfType.set(ns.type, index);
    }
    if (ns.path !== undefined && !ns.path.startsWith('/')) {
      problems.push({ path: joinPointer('/linux/namespaces', index, 'path'), message: 'must be an absolute path' });
    }
  });
  const has = (type: LinuxNamespaceType): boolean => firstOfType.has(type);

  // User namespaces (runc's rules): a new one needs both maps; maps without one cannot be applied.
  const userNs = namespaces.find((ns) => ns.type === 'user');
  const uidMapped = (linux.uidMappings ?? []).length > 0;
  const gidMapped = (linux.gidMappings ?? []).length > 0;
  if (userNs !== undefined && userNs.path === undefined) {
    if (!uidMapped) problems.push({ path: '/linux/uidMappings', message: 'is required when a new user namespace is created' });
    if (!gidMapped) problems.push({ path: '/linux/gidMappings', message: 'is required when a new user namespace is created' });
  }
  if (userNs === undefined) {
    if (uidMapped) problems.push({ path: '/linux/uidMappings', message: 'needs a user namespace in /linux/namespaces' });
    if (gidMapped) problems.push({ path: '/linux/gidMappings', message: 'needs a user namespace in /linux/namespaces' });
  }

  // Host and domain names can only be set in a UTS namespace of the container's own (runc's rule).
  if (!has('uts')) {
    if (spec.hostname !== undefined && spec.hostname !== '') {
      problems.push({ path: '/hostname', message: 'needs a uts namespace in /linux/namespaces' });
    }
    if (spec.domainname !== undefined && spec.domainname !== '') {
      problems.push({ path: '/domainname', message: 'needs a uts namespace in /linux/namespaces' });
    }
  }
  if (linux.timeOffsets !== undefined && !has('time')) {
    problems.push({ path: '/linux/timeOffsets', message: 'needs a time namespace in /linux/namespaces' });
  }

  (linux.devices ?? []).forEach((device, index) => {
    const at = joinPointer('/linux/devices', index);
    if (!device.path.startsWith('/')) problems.push({ path: `${at}/path`, message: 'must be an absolute path' });
    if (device.type !== 'p') {
      if (device.major === undefined) problems.push({ path: `${at}/major`, message: `is required for device type ${device.type}` });
      if (device.minor === undefined) problems.push({ path: `${at}/minor`, message: `is required for device type ${device.type}` });
    }
  });
  for (const list of ['maskedPaths', 'readonlyPaths'] as const) {
    (linux[list] ?? []).forEach((p, index) => {
      if (!p.startsWith('/')) problems.push({ path: joinPointer('/linux', list, index), message: 'must be an absolute path' });
    });
  }
  for (const key of Object.keys(linux.sysctl ?? {})) {
    if (key === '') {
      problems.push({ path: '/linux/sysctl/', message: 'key must not be empty' });
      continue;
    }
    const needed = sysctlNamespace(key);
    const at = joinPointer('/linux/sysctl', key);
    if (needed === undefined) problems.push({ path: at, message: 'is not in a kernel namespace of the container, so it cannot be set' });
    else if (!has(needed)) problems.push({ path: at, message: `needs a ${needed} namespace in /linux/namespaces` });
  }
}

// Kernel parameters that belong to a namespace (runc's and crun's list); any other sysctl would change the host.
const ipcSysctls = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/** The namespace a sysctl lives in, or undefined when it is global to the host. Accepts `/` or `.` separators. */
function sysctlNamespace(key: string): LinuxNamespaceType | undefined {
  const name = key.replace(/\//g, '.');
  if (ipcSysctls.has(name) || name.startsWith('fs.mqueue.')) return 'ipc';
  if (name.startsWith('net.')) return 'network';
  if (name === 'kernel.hostname' || name === 'kernel.domainname') return 'uts';
  return undefined;
}

/**
 * Checks a schema-valid config against the spec's rules the schema cannot express.
 * Returns every problem found (empty when the config follows them all).
 */
export function checkConfigRules(spec: Spec, opts: RuleOptions = {}): Problem[] {
  const problems: Problem[] = [];
  checkVersion(spec, problems);
  checkRoot(spec, opts, problems);
  checkProcess(spec, problems);
  checkAnnotations(spec, problems);
  checkMounts(spec, problems);
  checkHooks(spec, problems);
  checkLinux(spec, problems);
  return problems;
}
