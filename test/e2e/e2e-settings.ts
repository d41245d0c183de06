/**
 * What the end-to-end tests run against: the runtime binary under test (env PROXRUN_BIN,
 * default the repository's bin/proxrun), the pass-through backends to cover (env
 * PROXRUN_E2E_BACKENDS, default "runc,crun"), and the checks that the machine has what
 * they need. Every check fails loudly; nothing is skipped.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireCommands, requireRoot } from '../helpers/host-setup.js';
import { describeResult, runCommand } from '../helpers/exec.js';

export type PassthroughBackend = 'runc' | 'crun';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Absolute path of the runtime binary the clients are pointed at. */
export const runtimeUnderTest: string = path.resolve(process.env['PROXRUN_BIN'] ?? path.join(repoRoot, 'bin', 'proxrun'));

/** The annotation that routes a container to a proxrun backend. */
export const BACKEND_ANNOTATION = 'io.proxrun.backend';

export function backendsUnderTest(): PassthroughBackend[] {
  const names = (process.env['PROXRUN_E2E_BACKENDS'] ?? 'runc,crun').split(',').map((name) => name.trim()).filter((name) => name !== '');
  for (const name of names) {
    if (name !== 'runc' && name !== 'crun') throw new Error(`PROXRUN_E2E_BACKENDS: unknown backend ${name} (runc, crun)`);
  }
  if (names.length === 0) throw new Error('PROXRUN_E2E_BACKENDS names no backend');
  return names as PassthroughBackend[];
}

/** Fails unless running as root with the clients installed and the runtime binary answering --version. */
export async function requireE2eEnvironment(clientCommands: readonly string[]): Promise<void> {
  requireRoot('end-to-end tests with real containerd and podman');
  await requireCommands([...clientCommands, 'runc', 'crun', 'unshare', 'nsenter', 'umount']);
  try {
    accessSync(runtimeUnderTest, constants.X_OK);
  } catch {
    throw new Error(`runtime under test ${runtimeUnderTest} is not an executable file (set PROXRUN_BIN, or run npm run build)`);
  }
  const version = await runCommand([runtimeUnderTest, '--version'], { timeoutMs: 30_000 });
  if (version.exitCode !== 0) {
    throw new Error(`runtime under test does not answer --version (is it built?):\n${describeResult(version)}`);
  }
}

/**
 * Where the runtime under test keeps state when called without --root, as podman calls it:
 * runc and crun use their own defaults; proxrun uses /run/proxrun.
 */
export function defaultRootOfRuntimeUnderTest(): string {
  const name = path.basename(runtimeUnderTest);
  if (name === 'runc') return '/run/runc';
  if (name === 'crun') return '/run/crun';
  return '/run/proxrun';
}
