#!/usr/bin/env node
// Build: schema -> generated types and precompiled validators, type check, one bundled file, and the
// static in-container launcher from native/ (scripts/build-native.mjs).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
process.chdir(root);

if (fs.existsSync('scripts/build-schemas.mjs')) {
  execFileSync(process.execPath, ['scripts/build-schemas.mjs'], { stdio: 'inherit' });
}
if (!process.argv.includes('--no-typecheck')) {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'], { stdio: 'inherit' });
}
const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch { /* not a git checkout */ }

const result = await build({
  entryPoints: ['src/cli/main.ts'],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // One entry file plus chunks that load only when a command needs them (backends, pino,
  // validators): parsing one 800 KB file cost 12 ms on every call.
  splitting: true,
  outdir: 'dist',
  entryNames: 'proxrun',
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  minifySyntax: true,
  legalComments: 'none',
  define: {
    __PROXRUN_VERSION__: JSON.stringify(pkg.version),
    __PROXRUN_COMMIT__: JSON.stringify(commit),
  },
  // ESM output still meets CommonJS dependencies (pino, yargs helpers): give them require().
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
  metafile: true,
});

// Chunks of earlier builds are removed once they are a few minutes old: a proxrun process started
// just before this build may still be loading them (chunk names carry a content hash).
const current = new Set(Object.keys(result.metafile.outputs).map((f) => path.resolve(f)));
for (const name of fs.existsSync('dist/chunks') ? fs.readdirSync('dist/chunks') : []) {
  const file = path.resolve('dist/chunks', name);
  if (!current.has(file) && Date.now() - fs.statSync(file).mtimeMs > 5 * 60_000) fs.rmSync(file);
}
try {
  execFileSync(process.execPath, ['scripts/build-native.mjs'], { stdio: 'inherit' });
} catch {
  process.exit(1); // build-native.mjs has said why, in one line
}
for (const extra of fs.existsSync('scripts/build-extra.mjs') ? ['scripts/build-extra.mjs'] : []) {
  execFileSync(process.execPath, [extra], { stdio: 'inherit' });
}
