// The runtime-spec rules the JSON schema cannot express (config.md / config-linux.md / runtime.md MUSTs, and
// runc's own refusals that callers already live with). Run only on a document that passed the schema, so the
// names and ranges a single field can be checked on (capabilities, rlimit types, seccomp names...) are
// already known good; the Linux section's rules are in rules-linux.ts.
import fs from 'node:fs';
import path from 'node:path';
import { joinPointer, type Problem } from './problems.js';
import { checkIdMap, checkLinuxRules } from './rules-linux.js';
import { parseSignal } from './signals.js';
import type { Hook, Hooks, Spec } from './spec.js';

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

  (proc.rlimits ?? []).forEach((limit, index) => {
    if (limit.soft > limit.hard) {
      problems.push({ path: joinPointer('/process/rlimits', index, 'soft'), message: `must not exceed hard (${limit.hard}): setrlimit(2) refuses it` });
    }
  });
  checkScheduler(spec, problems);
}

/** sched_setattr(2): a static priority for the real-time policies only, runtime/deadline/period for SCHED_DEADLINE only. */
function checkScheduler(spec: Spec, problems: Problem[]): void {
  const scheduler = spec.process?.scheduler;
  if (scheduler === undefined) return;
  const { policy } = scheduler;
  const priority = scheduler.priority ?? 0;
  const realTime = policy === 'SCHED_FIFO' || policy === 'SCHED_RR';
  if (realTime && (priority < 1 || priority > 99)) {
    problems.push({ path: '/process/scheduler/priority', message: `must be 1 to 99 for ${policy} (sched_setattr(2))` });
  }
  if (!realTime && priority !== 0) {
    problems.push({ path: '/process/scheduler/priority', message: `must be 0 or unset for ${policy}: only SCHED_FIFO and SCHED_RR have a static priority (sched_setattr(2))` });
  }
  if (policy !== 'SCHED_DEADLINE') {
    for (const field of ['runtime', 'deadline', 'period'] as const) {
      if ((scheduler[field] ?? 0) !== 0) problems.push({ path: joinPointer('/process/scheduler', field), message: `is only for SCHED_DEADLINE, not ${policy} (sched_setattr(2))` });
    }
    return;
  }
  const runtime = scheduler.runtime ?? 0;
  const deadline = scheduler.deadline ?? 0;
  const period = scheduler.period ?? 0;
  // The kernel's __checkparam_dl: 1024 ns <= runtime <= deadline <= period (a period of 0 is the deadline).
  if (runtime < 1024) problems.push({ path: '/process/scheduler/runtime', message: 'must be at least 1024 nanoseconds for SCHED_DEADLINE (sched_setattr(2))' });
  else if (runtime > deadline) problems.push({ path: '/process/scheduler/runtime', message: `must not exceed deadline (${deadline}) for SCHED_DEADLINE (sched_setattr(2))` });
  if (period !== 0 && deadline > period) problems.push({ path: '/process/scheduler/deadline', message: `must not exceed period (${period}) for SCHED_DEADLINE (sched_setattr(2))` });
}

/** RFC 3339 date-time, as image-spec's `created` is written. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

function checkAnnotations(spec: Spec, problems: Problem[]): void {
  const annotations = spec.annotations ?? {};
  for (const key of Object.keys(annotations)) {
    if (key === '') problems.push({ path: '/annotations/', message: 'key must not be empty' });
  }
  // config.md: the org.opencontainers.image keys carry values valid for image-spec. A stop signal may be
  // a number as well as a name: podman writes "15".
  const stopSignal = annotations['org.opencontainers.image.stopSignal'];
  if (stopSignal !== undefined) {
    try {
      parseSignal(stopSignal);
    } catch (err) {
      problems.push({ path: joinPointer('/annotations', 'org.opencontainers.image.stopSignal'), message: `must be a signal such as SIGTERM: ${(err as Error).message}` });
    }
  }
  const created = annotations['org.opencontainers.image.created'];
  if (created !== undefined && (!RFC3339.test(created) || Number.isNaN(Date.parse(created)))) {
    problems.push({ path: joinPointer('/annotations', 'org.opencontainers.image.created'), message: 'must be an RFC 3339 date-time (config.md, image-spec)' });
  }
}

function checkMounts(spec: Spec, problems: Problem[]): void {
  if (!isPosix(spec)) return;
  const userNamespace = (spec.linux?.namespaces ?? []).some((ns) => ns.type === 'user');
  (spec.mounts ?? []).forEach((mount, index) => {
    // On Linux a relative destination is taken from "/" (config.md since 1.2, and runc); elsewhere it must be absolute.
    if (!mount.destination.startsWith('/') && !isLinux(spec)) {
      problems.push({ path: joinPointer('/mounts', index, 'destination'), message: 'must be an absolute path' });
    }
    checkIdMap(mount.uidMappings, joinPointer('/mounts', index, 'uidMappings'), problems);
    checkIdMap(mount.gidMappings, joinPointer('/mounts', index, 'gidMappings'), problems);
    // config.md: idmap and ridmap take the mount's mappings, else the container's user namespace; with neither, an error.
    const idmap = (mount.options ?? []).find((option) => option === 'idmap' || option === 'ridmap');
    const mapped = (mount.uidMappings ?? []).length > 0 || (mount.gidMappings ?? []).length > 0;
    if (idmap !== undefined && !mapped && !userNamespace) {
      problems.push({ path: joinPointer('/mounts', index, 'options'), message: `"${idmap}" needs uidMappings and gidMappings on the mount, or a user namespace in /linux/namespaces (config.md)` });
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
  if (isLinux(spec)) checkLinuxRules(spec, problems);
  return problems;
}
