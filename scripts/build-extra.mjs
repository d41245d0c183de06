#!/usr/bin/env node
// Bundles the Proxmox VE simulator (daemon, node tools, start/stop/fault control) into dist/pve-sim/,
// so each `pct` call starts one small file instead of compiling TypeScript.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
process.chdir(root);

await build({
  entryPoints: {
    daemon: 'test/pve-sim/daemon.ts',
    cli: 'test/pve-sim/cli.ts',
    control: 'test/pve-sim/control.ts',
  },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outdir: 'dist/pve-sim',
  outExtension: { '.js': '.mjs' },
  minifySyntax: true,
  legalComments: 'none',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
