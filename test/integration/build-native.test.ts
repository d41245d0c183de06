/**
 * scripts/build-native.mjs stops with one line naming the Debian package when a build tool is
 * missing: no gcc on PATH, or a gcc that finds no static libseccomp (a wrapper around the real gcc
 * that answers `-print-file-name=libseccomp.a` as gcc does for a file it cannot find). Neither case
 * touches the launcher already built.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, tempDir } from '../helpers/proxrun.js';

const SCRIPT = path.join(REPO_ROOT, 'scripts/build-native.mjs');
const BUILT = path.join(REPO_ROOT, 'dist/native/proxrun-launch');

function build(pathEnv: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8', env: { PATH: pathEnv } });
  return { status: r.status, stderr: r.stderr };
}

describe('build-native', () => {
  it('names gcc and libc6-dev when there is no gcc', () => {
    const empty = tempDir('proxrun-nogcc-');
    try {
      const before = fs.existsSync(BUILT) ? fs.statSync(BUILT).mtimeMs : undefined;
      const r = build(empty);
      assert.equal(r.status, 1);
      assert.equal(r.stderr, 'build-native: gcc not found: install Debian packages gcc and libc6-dev (bash scripts/install-deps)\n');
      assert.equal(fs.existsSync(BUILT) ? fs.statSync(BUILT).mtimeMs : undefined, before, 'the built launcher is untouched');
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('names libseccomp-dev when gcc finds no libseccomp.a', () => {
    const dir = tempDir('proxrun-fakegcc-');
    try {
      const gcc = spawnSync('sh', ['-c', 'command -v gcc'], { encoding: 'utf8' }).stdout.trim();
      assert.ok(gcc !== '', 'gcc is installed');
      fs.writeFileSync(path.join(dir, 'gcc'), `#!/bin/sh\n[ "$1" = -print-file-name=libseccomp.a ] && { echo libseccomp.a; exit 0; }\nexec ${gcc} "$@"\n`, { mode: 0o755 });
      const r = build(`${dir}:/usr/bin:/bin`);
      assert.equal(r.status, 1);
      assert.equal(r.stderr, 'build-native: libseccomp.a not found: install Debian package libseccomp-dev (bash scripts/install-deps)\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
