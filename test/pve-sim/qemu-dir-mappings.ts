/**
 * Cluster directory mappings (`/cluster/mapping/dir`, PVE >= 8.4), which `virtiofsN` of a VM names:
 * kept in `<pveDir>/mapping/directory.cfg` as Proxmox keeps its mapping files, a section per
 * mapping headed by its id alone, with indented `map node=N,path=/dir` lines (one per node) and
 * an optional `description`. Writes go through the config store's exclusive chain.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Handler, HandlerRequest } from './sim-context.js';
import { paramError, plainError } from './api-error.js';
import { paramString } from './param-values.js';
import { parsePropertyString } from './qemu-cmdline.js';

export interface DirMapping {
  id: string;
  description?: string;
  map: string[];
}

export function mappingFile(pveDir: string): string {
  return path.join(pveDir, 'mapping', 'directory.cfg');
}

export function readDirMappings(pveDir: string): DirMapping[] {
  let text: string;
  try {
    text = fs.readFileSync(mappingFile(pveDir), 'utf8');
  } catch {
    return [];
  }
  const out: DirMapping[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const current = out[out.length - 1];
    const entry = /^\s+(\S+)\s+(.*)$/.exec(line);
    if (entry === null) out.push({ id: line.trim(), map: [] });
    else if (current !== undefined && entry[1] === 'map') current.map.push(entry[2] ?? '');
    else if (current !== undefined && entry[1] === 'description') current.description = decodeURIComponent(entry[2] ?? '');
  }
  return out;
}

function writeDirMappings(pveDir: string, mappings: readonly DirMapping[]): void {
  const text = mappings
    .map((m) => [m.id, ...(m.description !== undefined ? [`\tdescription ${encodeURIComponent(m.description)}`] : []), ...m.map.map((e) => `\tmap ${e}`)].join('\n'))
    .join('\n\n');
  fs.mkdirSync(path.dirname(mappingFile(pveDir)), { recursive: true });
  const tmp = `${mappingFile(pveDir)}.tmp`;
  fs.writeFileSync(tmp, text === '' ? '' : `${text}\n`);
  fs.renameSync(tmp, mappingFile(pveDir));
}

/** The host directory mapping `id` gives node `node`; throws as a start would. */
export function resolveDirMapping(pveDir: string, id: string, node: string): string {
  const mapping = readDirMappings(pveDir).find((m) => m.id === id);
  if (mapping === undefined) throw new Error(`directory mapping '${id}' does not exist`);
  const entry = mapping.map.map((e) => parsePropertyString(e)).find((e) => e['node'] === node);
  if (entry?.['path'] === undefined) throw new Error(`directory mapping '${id}' has no entry for node '${node}'`);
  if (!fs.statSync(entry['path'], { throwIfNoEntry: false })?.isDirectory()) throw new Error(`directory mapping '${id}': '${entry['path']}' is not a directory on node '${node}'`);
  return entry['path'];
}

function mapEntries(req: HandlerRequest): string[] | undefined {
  const raw = req.params['map'];
  if (raw === undefined) return undefined;
  const list = (Array.isArray(raw) ? raw : [raw]).map(String);
  const nodes = new Set<string>();
  for (const entry of list) {
    const parsed = parsePropertyString(entry);
    if (parsed['node'] === undefined || parsed['path'] === undefined) throw paramError({ map: `'${entry}' needs node= and path=` });
    if (!parsed['path'].startsWith('/')) throw paramError({ map: `path '${parsed['path']}' is not absolute` });
    if (nodes.has(parsed['node'])) throw paramError({ map: `node '${parsed['node']}' is mapped twice` });
    nodes.add(parsed['node']);
  }
  return list;
}

const mappingId = (req: HandlerRequest): string => paramString(req.params, 'id') ?? '';

export const listDirMappings: Handler = async (req) => readDirMappings(req.ctx.store.pveDir).map((m) => ({ id: m.id, map: m.map, ...(m.description !== undefined ? { description: m.description } : {}) }));

export const getDirMapping: Handler = async (req) => {
  const id = mappingId(req);
  const found = readDirMappings(req.ctx.store.pveDir).find((m) => m.id === id);
  if (found === undefined) throw plainError(`directory mapping '${id}' does not exist`);
  return { ...found, type: 'dir' };
};

export const createDirMapping: Handler = async (req) => {
  const id = mappingId(req);
  const map = mapEntries(req) ?? [];
  const description = paramString(req.params, 'description');
  await req.ctx.store.exclusive(() => {
    const all = readDirMappings(req.ctx.store.pveDir);
    if (all.some((m) => m.id === id)) throw plainError(`unable to create directory mapping '${id}' - already exists`);
    writeDirMappings(req.ctx.store.pveDir, [...all, { id, map, ...(description !== undefined ? { description } : {}) }]);
  });
  return null;
};

export const updateDirMapping: Handler = async (req) => {
  const id = mappingId(req);
  const map = mapEntries(req);
  await req.ctx.store.exclusive(() => {
    const all = readDirMappings(req.ctx.store.pveDir);
    const found = all.find((m) => m.id === id);
    if (found === undefined) throw plainError(`directory mapping '${id}' does not exist`);
    if (map !== undefined) found.map = map;
    const description = paramString(req.params, 'description');
    if (description !== undefined) found.description = description;
    if ((paramString(req.params, 'delete') ?? '').split(/[,; ]/).includes('description')) delete found.description;
    writeDirMappings(req.ctx.store.pveDir, all);
  });
  return null;
};

export const deleteDirMapping: Handler = async (req) => {
  const id = mappingId(req);
  await req.ctx.store.exclusive(() => {
    const all = readDirMappings(req.ctx.store.pveDir);
    if (!all.some((m) => m.id === id)) throw plainError(`directory mapping '${id}' does not exist`);
    writeDirMappings(req.ctx.store.pveDir, all.filter((m) => m.id !== id));
  });
  return null;
};
