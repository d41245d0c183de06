/**
 * The config.json an engine really writes, taken at test time: the engine is given a runtime that
 * is a small script saving the bundle's config.json at `create` and then running runc with the
 * same arguments, so the engine's run succeeds as with runc itself. ctr: `ctr run --runc-binary
 * SCRIPT` on a private containerd (the caller passes its flags, e.g. --seccomp). podman:
 * `podman --runtime SCRIPT run` on an isolated podman, in a network namespace the caller made;
 * the container is kept (its userdata files are the sources of the binds in the captured config)
 * until the caller cleans the podman up.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describeResult, runCommand } from '../exec.js';
import type { ContainerdInstance } from '../containerd.js';
import type { Podman } from '../podman.js';
import { tempDir } from '../proxrun.js';

export interface CaptureRuntime {
  /** The script to give the engine as its runtime. */
  readonly script: string;
  /** Where the script saves the config.json of the last `create`. */
  readonly saved: string;
  readonly dir: string;
}

/** Writes the capturing runtime script (it finds runc on PATH when written). */
export async function makeCaptureRuntime(): Promise<CaptureRuntime> {
  const which = await runCommand(['sh', '-c', 'command -v runc']);
  const runc = which.stdout.trim();
  if (which.exitCode !== 0 || runc === '') throw new Error('runc not found on PATH');
  const dir = tempDir('proxrun-capture-');
  fs.chmodSync(dir, 0o755);
  const saved = path.join(dir, 'config.json');
  const script = path.join(dir, 'capture-runtime');
  fs.writeFileSync(script, [
    '#!/bin/sh',
    '# test runtime: saves config.json of the bundle at create, then runs runc with the same arguments',
    'bundle= prev= create=',
    'for a in "$@"; do',
    '  [ "$prev" = --bundle ] || [ "$prev" = -b ] && bundle=$a',
    '  case $a in --bundle=*) bundle=${a#--bundle=} ;; create) create=1 ;; esac',
    '  prev=$a',
    'done',
    `if [ -n "$create" ] && [ -n "$bundle" ]; then cp "$bundle/config.json" '${saved}'; fi`,
    `exec '${runc}' "$@"`,
    '',
  ].join('\n'), { mode: 0o755 });
  return { script, saved, dir };
}

function readSaved(runtime: CaptureRuntime, what: string): Record<string, unknown> {
  if (!fs.existsSync(runtime.saved)) throw new Error(`${what} never called the runtime's create`);
  const config = JSON.parse(fs.readFileSync(runtime.saved, 'utf8')) as Record<string, unknown>;
  fs.rmSync(runtime.saved);
  return config;
}

/** `ctr run --rm FLAGS --rootfs ROOTFS ID /bin/true` through the capturing runtime; its config. */
export async function captureCtrConfig(containerd: ContainerdInstance, runtime: CaptureRuntime, rootfs: string, flags: readonly string[]): Promise<Record<string, unknown>> {
  const id = `capture-${process.pid}`;
  const r = await containerd.ctr.run({ runtime: runtime.script, rootfs, id, args: ['/bin/true'], flags, timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`ctr run with the capturing runtime failed:\n${describeResult(r)}\n${containerd.log()}`);
  return readSaved(runtime, 'ctr run');
}

/**
 * `podman run --name NAME` with podman's defaults and only the flags this host needs (the ulimit
 * flags, and `--network none` until joining a network namespace by path is supported), through
 * the capturing runtime. The container stays (stopped) so that its bind sources stay.
 */
export async function capturePodmanConfig(podman: Podman, rootfs: string, name: string): Promise<Record<string, unknown>> {
  const r = await podman.exec(['run', '--name', name, '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--rootfs', rootfs, '/bin/true'], 120_000);
  if (r.exitCode !== 0) throw new Error(`podman run with the capturing runtime failed:\n${describeResult(r)}`);
  const saved = path.join(path.dirname(podman.runtime), 'config.json');
  return readSaved({ script: podman.runtime, saved, dir: path.dirname(podman.runtime) }, 'podman run');
}
