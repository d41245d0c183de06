#!/usr/bin/env node
// Builds native/ (the in-container launcher, docs/proxmox-lxc.md "The launcher") into
// dist/native/proxrun-launch: one static binary, since it runs inside CTs whose rootfs may have no
// libc. Needs Debian's gcc, libc6-dev and libseccomp-dev (scripts/install-deps installs them);
// a missing one stops the build with one line naming the package.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const out = path.join(root, 'dist/native/proxrun-launch');
const sources = fs.readdirSync(path.join(root, 'native')).filter((f) => f.endsWith('.c')).sort().map((f) => path.join('native', f));

function stop(message) {
  process.stderr.write(`build-native: ${message}\n`);
  process.exit(1);
}

function compilerPrints(args) {
  try {
    return execFileSync('gcc', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

if (compilerPrints(['--version']) === undefined) stop('gcc not found: install Debian packages gcc and libc6-dev (bash scripts/install-deps)');
const libcStatic = compilerPrints(['-print-file-name=libc.a']);
if (libcStatic === undefined || !path.isAbsolute(libcStatic)) stop('static libc.a not found: install Debian package libc6-dev (bash scripts/install-deps)');
const seccompStatic = compilerPrints(['-print-file-name=libseccomp.a']);
if (seccompStatic === undefined || !path.isAbsolute(seccompStatic)) stop('libseccomp.a not found: install Debian package libseccomp-dev (bash scripts/install-deps)');

fs.mkdirSync(path.dirname(out), { recursive: true });
const tmp = `${out}.tmp`;
try {
  execFileSync('gcc', [
    '-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-static', '-s',
    '-o', tmp, ...sources, '-l:libseccomp.a',
  ], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
} catch {
  fs.rmSync(tmp, { force: true });
  stop(`compiling ${sources.join(' ')} failed (see the compiler output above)`);
}
fs.renameSync(tmp, out);
