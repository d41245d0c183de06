/**
 * The dependency check (scripts/check-layers.ts) against the layer table of docs/architecture.md:
 * the repository passes it, and a copy of the table catches each kind of violating import (a lower
 * layer importing a higher one, a backend importing another backend, a dynamic import, a file in
 * no layer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkRepository, findViolations, importsOf, parseLayerTable, sourceFiles } from '../../scripts/check-layers.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TABLE = fs.readFileSync(path.join(REPO, 'docs/architecture.md'), 'utf8');

test('the repository keeps to its layer table', () => {
  assert.deepEqual(checkRepository(REPO).map((v) => v.message), []);
});

test('the table names every layer the architecture describes, lowest last', () => {
  const layers = parseLayerTable(TABLE);
  assert.deepEqual(layers.map((l) => l.name), ['cli', 'runtime', 'backends', 'backend-shared', 'contract', 'proxmox', 'monitor', 'oci', 'lib']);
  assert.deepEqual(layers.find((l) => l.name === 'lib')?.mayImport, []);
});

test('imports are found in static, re-export, side-effect and dynamic form; packages are not layers', () => {
  const text = [
    "import { a } from './a.js';",
    "import {\n  b,\n} from '../b.js';",
    "export { c } from './c.js';",
    "import './d.js';",
    "const e = await import('../e.js');",
    "import fs from 'node:fs';",
    "import lockfile from 'proper-lockfile';",
  ].join('\n');
  assert.deepEqual(importsOf(text), ['./a.js', '../b.js', './c.js', './d.js', '../e.js']);
});

test('violating imports are each named with the rule they break', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-layers-'));
  try {
    const write = (file: string, text: string): void => {
      fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      fs.writeFileSync(path.join(root, file), text);
    };
    write('docs/architecture.md', TABLE);
    write('src/runtime/errors.ts', 'export const x = 1;\n');
    write('src/backends/proxmox-vm/plan.ts', 'export const y = 1;\n');
    write('src/backends/shared/findings.ts', "import { y } from '../proxmox-vm/plan.js';\n");
    write('src/backends/proxmox-lxc/translate/ok.ts', "import { x } from '../../../runtime/errors.js';\nimport { f } from '../../shared/findings.js';\n");
    write('src/backends/proxmox-lxc/backend.ts', "import { y } from '../proxmox-vm/plan.js';\n");
    write('src/oci/rules.ts', "export async function f() { return (await import('../runtime/errors.js')).x; }\n");
    write('src/elsewhere/thing.ts', 'export {};\n');
    const violations = findViolations(root, parseLayerTable(TABLE), sourceFiles(root)).map((v) => v.message);
    assert.deepEqual(violations, [
      'src/backends/proxmox-lxc/backend.ts imports src/backends/proxmox-vm/plan.ts: backends proxmox-lxc may not import backends proxmox-vm',
      'src/backends/shared/findings.ts imports src/backends/proxmox-vm/plan.ts: layer backend-shared may not import layer backends',
      'src/elsewhere/thing.ts is in no layer of the table',
      'src/oci/rules.ts imports src/runtime/errors.ts: layer oci may not import layer contract',
    ]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
