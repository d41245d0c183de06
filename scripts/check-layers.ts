/**
 * The dependency check of `bash scripts/test`: reads the layer table in docs/architecture.md
 * (section "The layer table") and fails, naming file, import and rule, on any import in src/ that
 * the table does not allow. The table is the one statement of the layers: docs and check cannot
 * drift apart. Only relative imports are checked (node: and npm packages are not layers).
 *
 * Table rows: | `layer` | `glob`, `glob` | `layer`, `layer` (or "nothing") |. A glob ending in
 * `/<name>/**` makes every folder there a unit of its own: files of one unit may import each other,
 * never another unit of the same layer (a backend never imports another backend).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Layer {
  readonly name: string;
  readonly globs: readonly string[];
  readonly mayImport: readonly string[];
}

export interface Violation {
  readonly file: string;
  readonly target: string;
  readonly message: string;
}

const TABLE_HEADING = /^#+\s+The layer table\s*$/m;

/** The layer table from the markdown text of docs/architecture.md. */
export function parseLayerTable(markdown: string): Layer[] {
  const at = markdown.search(TABLE_HEADING);
  if (at < 0) throw new Error('docs/architecture.md has no "The layer table" section');
  const lines = markdown.slice(at).split('\n').slice(1);
  const layers: Layer[] = [];
  let inTable = false;
  for (const line of lines) {
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    if (cells.length < 3 || /^-+$/.test(cells[0] ?? '') || cells[0] === 'layer') continue;
    const ticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');
    const [name] = ticked(cells[0] ?? '');
    if (name === undefined) throw new Error(`layer table row without a layer name: ${line}`);
    layers.push({ name, globs: ticked(cells[1] ?? ''), mayImport: ticked(cells[2] ?? '') });
  }
  if (layers.length === 0) throw new Error('the layer table in docs/architecture.md is empty');
  for (const layer of layers) {
    for (const other of layer.mayImport) if (!layers.some((l) => l.name === other)) throw new Error(`layer ${layer.name} may import unknown layer ${other}`);
  }
  return layers;
}

function globToRegExp(glob: string): RegExp {
  let src = '';
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i] ?? '';
    if (glob.startsWith('**', i)) {
      src += '.*';
      i += 1;
    } else if (c === '*') src += '[^/]*';
    else if (glob.startsWith('<name>', i)) {
      src += '([^/]+)';
      i += 5;
    } else src += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${src}$`);
}

/** The layer of a repository-relative path and its unit (for `<name>` globs), or undefined. */
export function layerOf(layers: readonly Layer[], file: string): { layer: Layer; unit: string } | undefined {
  // The most specific glob wins (src/backends/shared/** before src/backends/<name>/**).
  let best: { layer: Layer; unit: string; score: number } | undefined;
  for (const layer of layers) {
    for (const glob of layer.globs) {
      const m = globToRegExp(glob).exec(file);
      if (!m) continue;
      const score = glob.replace(/<name>|\*+/g, '').length;
      if (best === undefined || score > best.score) best = { layer, unit: m[1] ?? '', score };
    }
  }
  return best === undefined ? undefined : { layer: best.layer, unit: best.unit };
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm;

/** Relative import specifiers of a source text (static, re-exports and dynamic). */
export function importsOf(text: string): string[] {
  return [...text.matchAll(IMPORT)].map((m) => m[1] ?? '');
}

function resolveImport(root: string, fromFile: string, spec: string): string {
  const target = path.resolve(path.dirname(path.join(root, fromFile)), spec);
  const candidates = [target.replace(/\.js$/, '.ts'), target, `${target}.ts`];
  const found = candidates.find((c) => fs.existsSync(c)) ?? candidates[0] ?? target;
  return path.relative(root, found).split(path.sep).join('/');
}

/** Every import of `files` (repository-relative) that the table does not allow. */
export function findViolations(root: string, layers: readonly Layer[], files: readonly string[]): Violation[] {
  const out: Violation[] = [];
  for (const file of files) {
    const from = layerOf(layers, file);
    if (from === undefined) {
      out.push({ file, target: '', message: `${file} is in no layer of the table` });
      continue;
    }
    for (const spec of importsOf(fs.readFileSync(path.join(root, file), 'utf8'))) {
      const target = resolveImport(root, file, spec);
      const to = layerOf(layers, target);
      if (to === undefined) {
        out.push({ file, target, message: `${file} imports ${target}, which is in no layer of the table` });
      } else if (to.layer === from.layer) {
        if (to.unit !== from.unit) out.push({ file, target, message: `${file} imports ${target}: ${from.layer.name} ${from.unit} may not import ${to.layer.name} ${to.unit}` });
      } else if (!from.layer.mayImport.includes(to.layer.name)) {
        out.push({ file, target, message: `${file} imports ${target}: layer ${from.layer.name} may not import layer ${to.layer.name}` });
      }
    }
  }
  return out;
}

/** Source files under `dir` (repository-relative), .ts and .js. */
export function sourceFiles(root: string, dir = 'src'): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...sourceFiles(root, rel));
    else if (/\.(ts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(rel);
  }
  return out.sort();
}

/** Checks the repository at `root`; the violations found. */
export function checkRepository(root: string): Violation[] {
  const layers = parseLayerTable(fs.readFileSync(path.join(root, 'docs/architecture.md'), 'utf8'));
  return findViolations(root, layers, sourceFiles(root));
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
  const violations = checkRepository(root);
  for (const v of violations) console.error(`check-layers: ${v.message}`);
  if (violations.length > 0) {
    console.error(`check-layers: ${violations.length} import(s) against the layer table in docs/architecture.md`);
    process.exit(1);
  }
  console.log(`check-layers: ${sourceFiles(root).length} files, every import as the layer table in docs/architecture.md allows`);
}
