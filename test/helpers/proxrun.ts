/**
 * Running the built proxrun binary from tests, with its own state root and bundles
 * made from the shared busybox rootfs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand, type CommandOptions, type CommandResult } from './exec.js';
import { busyboxRootfs } from './rootfs-cache.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PROXRUN_BIN = process.env.PROXRUN_BIN ?? path.join(REPO_ROOT, 'bin/proxrun');

/** Fails loudly when the build output is missing (tests run after `npm run build`). */
export function requireBuilt(): void {
  if (!fs.existsSync(path.join(REPO_ROOT, 'dist/proxrun.mjs'))) {
    throw new Error(`dist/proxrun.mjs is missing: run "npm run build" before the tests`);
  }
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface BundleOptions {
  args?: string[];
  backend?: string;
  annotations?: Record<string, string>;
  /** Changes made to the config object after the defaults. */
  edit?: (config: Record<string, unknown>) => void;
}

/**
 * A bundle whose rootfs is a bind-free copy-on-nothing reference to the shared busybox
 * rootfs (root.path is absolute), with a config.json like `proxrun spec` writes, made non-interactive.
 */
export async function makeBundle(dir: string, options: BundleOptions = {}): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const rootfs = await busyboxRootfs();
  const annotations: Record<string, string> = { ...(options.annotations ?? {}) };
  if (options.backend) annotations['io.proxrun.backend'] = options.backend;
  const config: Record<string, unknown> = {
    // crun 1.8 (Debian 12) refuses any ociVersion other than 1.0.x: "unknown version specified".
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: options.args ?? ['sh', '-c', 'echo hello'],
      env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
      capabilities: { bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: rootfs, readonly: true },
    hostname: 'proxrun-test',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
    ],
    annotations,
    linux: {
      namespaces: ['pid', 'ipc', 'uts', 'mount', 'network'].map((type) => ({ type })),
      maskedPaths: ['/proc/kcore'],
      readonlyPaths: ['/proc/sys'],
    },
  };
  options.edit?.(config);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

/** Runs proxrun with `--root root` and the given arguments. */
export function proxrun(root: string, args: readonly string[], options: CommandOptions & { globals?: string[] } = {}): Promise<CommandResult> {
  return runCommand([PROXRUN_BIN, '--root', root, ...(options.globals ?? []), ...args], options);
}

/** Names left in a state root other than the lock folder. */
export function leftovers(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root).filter((n) => n !== '@locks');
}
