/**
 * The process an `exec` runs, from `--process FILE` (read synchronously, before anything else,
 * because the caller deletes it as soon as proxrun returns) or from the inline form, which starts
 * from the container's own `process` (bundle config.json) as runc's getProcess does and applies
 * --env, --cwd, --user, --additional-gids, --cap and --no-new-privs on top. What cannot be done
 * (a terminal, preserved fds, another AppArmor profile or SELinux label) is refused by name.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Process, Rlimit } from '../../../oci/spec.js';
import type { ExecRequest } from '../../../runtime/backend.js';
import { errInvalidArgument, errUnsupported } from '../../../runtime/errors.js';
import { LINUX_CAPABILITIES } from '../translate/linux-capabilities.js';

export interface ExecCapabilities {
  readonly bounding: readonly string[];
  readonly effective: readonly string[];
  readonly inheritable: readonly string[];
  readonly permitted: readonly string[];
  readonly ambient: readonly string[];
}

export interface ExecProcess {
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids: readonly number[];
  readonly capabilities: ExecCapabilities;
  /** The exec's own rlimits; empty means the container's (as in runc). */
  readonly rlimits: readonly Rlimit[];
  readonly noNewPrivileges: boolean;
}

const CAP_SETS = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const;

const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

function readProcessFile(file: string): Process {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw errInvalidArgument(`exec: cannot read --process ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw errInvalidArgument(`exec: --process ${file}: invalid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw errInvalidArgument(`exec: --process ${file}: not a JSON object`);
  return doc as Process;
}

/** The container's own process from its bundle, or nothing when the bundle is gone. */
function bundleProcess(bundle: string): Process | undefined {
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { process?: Process };
    return spec.process;
  } catch {
    return undefined;
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

/** `uid[:gid]`, numbers only (names would need the container's /etc/passwd). */
function parseUserFlag(text: string): { uid: number; gid?: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (m?.[1] === undefined) throw errInvalidArgument(`exec: --user ${JSON.stringify(text)}: give uid[:gid] as numbers`);
  return m[2] === undefined ? { uid: Number(m[1]) } : { uid: Number(m[1]), gid: Number(m[2]) };
}

/** Appends `entries` to `env`, a later NAME replacing an earlier one in place. */
function mergeEnv(env: readonly string[], entries: readonly string[]): string[] {
  const merged = [...env];
  for (const entry of entries) {
    const name = entry.split('=', 1)[0] ?? entry;
    const at = merged.findIndex((existing) => existing.split('=', 1)[0] === name);
    if (at >= 0) merged[at] = entry;
    else merged.push(entry);
  }
  return merged;
}

function refuseUnsupported(req: ExecRequest, proc: Process): void {
  if (req.tty || proc.terminal === true) throw errUnsupported('exec: terminal mode (--tty, process.terminal) is not supported by the proxmox-lxc backend: no pty relay yet; run without -t');
  if (req.consoleSocket !== undefined) throw errUnsupported('exec: --console-socket is not supported by the proxmox-lxc backend (no terminal mode)');
  if (req.preserveFds > 0) throw errUnsupported('exec: --preserve-fds is not supported by the proxmox-lxc backend');
  if (req.apparmor !== undefined) throw errUnsupported('exec: --apparmor is not supported by the proxmox-lxc backend: an exec runs under the container\'s profile');
  if (req.processLabel !== undefined) throw errUnsupported('exec: --process-label is not supported by the proxmox-lxc backend');
}

/** Reads and checks the exec's process; throws (before anything runs) when it cannot be honoured. */
export function resolveExecProcess(req: ExecRequest, bundle: string): ExecProcess {
  const fromFile = req.processFile !== undefined && req.processFile !== '';
  const proc: Process = fromFile ? readProcessFile(req.processFile ?? '') : { ...(bundleProcess(bundle) ?? { cwd: '/' }), args: req.args };
  refuseUnsupported(req, proc);

  const args = proc.args;
  if (!isStringArray(args) || args.length === 0 || args[0] === '') throw errInvalidArgument('exec: process.args must name a program to run');
  if (proc.env !== undefined && !isStringArray(proc.env)) throw errInvalidArgument('exec: process.env must be an array of strings');
  for (const word of [...args, ...(proc.env ?? []), ...req.env]) {
    if (word.includes('\0')) throw errInvalidArgument('exec: process args and env must not contain a NUL character');
  }
  let env = proc.env ?? (fromFile ? [] : DEFAULT_ENV);
  if (req.env.length > 0) env = mergeEnv(env, req.env);
  for (const entry of env) {
    if (entry.indexOf('=') <= 0) throw errInvalidArgument(`exec: process.env entry is not NAME=VALUE: ${JSON.stringify(entry)}`);
  }

  const cwd = req.cwd !== undefined && req.cwd !== '' ? req.cwd : typeof proc.cwd === 'string' && proc.cwd !== '' ? proc.cwd : '/';
  if (!cwd.startsWith('/')) throw errInvalidArgument(`exec: cwd must be an absolute path: ${JSON.stringify(cwd)}`);

  let uid = isId(proc.user?.uid) ? proc.user.uid : 0;
  let gid = isId(proc.user?.gid) ? proc.user.gid : 0;
  if (req.user !== undefined && req.user !== '') {
    const flag = parseUserFlag(req.user);
    uid = flag.uid;
    gid = flag.gid ?? gid;
  }
  const additionalGids = [...(proc.user?.additionalGids ?? [])];
  for (const text of req.additionalGids) {
    if (!/^\d+$/.test(text) || !isId(Number(text))) throw errInvalidArgument(`exec: --additional-gids ${JSON.stringify(text)}: give a gid as a number`);
    additionalGids.push(Number(text));
  }
  if (!additionalGids.every(isId)) throw errInvalidArgument('exec: process.user.additionalGids must be numbers');

  // runc's getProcess: each --cap goes into the bounding, effective, permitted and ambient sets.
  const capabilities = Object.fromEntries(CAP_SETS.map((set) => {
    const list = proc.capabilities?.[set] ?? [];
    if (!isStringArray(list)) throw errInvalidArgument(`exec: process.capabilities.${set} must be an array of names`);
    return [set, set === 'inheritable' ? [...list] : [...list, ...req.caps]];
  })) as unknown as ExecCapabilities;
  for (const set of CAP_SETS) {
    for (const name of capabilities[set]) {
      if (!LINUX_CAPABILITIES.has(name)) throw errInvalidArgument(`exec: process.capabilities.${set}: unknown capability ${JSON.stringify(name)}`);
    }
  }
  const rlimits = Array.isArray(proc.rlimits) ? [...proc.rlimits] : [];

  return { args: [...args], env, cwd, uid, gid, additionalGids, capabilities, rlimits, noNewPrivileges: req.noNewPrivs || proc.noNewPrivileges === true };
}
