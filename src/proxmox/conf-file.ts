/**
 * Proxmox guest config files (`<pveDir>/nodes/<node>/lxc/<vmid>.conf`, `…/qemu-server/<vmid>.conf`):
 * `#` description lines first, then `key: value` lines and raw `lxc.key: value` (or `lxc.key = value`)
 * lines, then sections `[pve:pending]` and one per snapshot. Raw `lxc.*` keys can only be set by
 * editing this file; they go into the main section, never into a pending or snapshot section.
 * Lines proxrun does not touch are kept exactly as they were. Writes are atomic (temp file in the
 * same folder, then rename, as Proxmox itself writes pmxcfs files).
 */
import fs from 'node:fs/promises';
import path from 'node:path';

export interface PveConfSection {
  /** `pve:pending`, or a snapshot name. */
  name: string;
  /** The lines after the `[name]` header, verbatim. */
  lines: string[];
}

export interface PveConf {
  /** Lines of the main section (description, settings, raw keys), verbatim. */
  main: string[];
  sections: PveConfSection[];
}

export interface ConfEntry {
  key: string;
  value: string;
}

export type GuestKind = 'lxc' | 'qemu';

/** A value written into a Proxmox .conf line: a newline would start a new line, other control characters are refused too. */
export function hasControlCharacter(value: string): boolean {
  return /[\u0000-\u0008\u000a-\u001f\u007f]/.test(value);
}

const SECTION_HEADER = /^\[([^\]]+)\]\s*$/;

export function guestConfPath(pveDir: string, node: string, kind: GuestKind, vmid: number): string {
  return path.join(pveDir, 'nodes', node, kind === 'lxc' ? 'lxc' : 'qemu-server', `${vmid}.conf`);
}

export function parsePveConf(text: string): PveConf {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const conf: PveConf = { main: [], sections: [] };
  let current: string[] = conf.main;
  for (const line of lines) {
    const header = SECTION_HEADER.exec(line);
    if (header) {
      const section: PveConfSection = { name: header[1] ?? '', lines: [] };
      conf.sections.push(section);
      current = section.lines;
    } else current.push(line);
  }
  return conf;
}

export function formatPveConf(conf: PveConf): string {
  const out = [...conf.main];
  for (const section of conf.sections) out.push(`[${section.name}]`, ...section.lines);
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** A settings line as key and value; undefined for description, blank and unparsable lines. */
export function parseConfLine(line: string): ConfEntry | undefined {
  if (line.startsWith('#')) return undefined;
  const raw = /^(lxc\.[A-Za-z0-9_.-]+)\s*(?::|=)\s*(.*?)\s*$/.exec(line);
  if (raw) return { key: raw[1] ?? '', value: raw[2] ?? '' };
  const setting = /^([a-z][a-z0-9_-]*):\s*(.*?)\s*$/.exec(line);
  if (setting) return { key: setting[1] ?? '', value: setting[2] ?? '' };
  return undefined;
}

/** The raw `lxc.*` entries of the main section, in file order. */
export function rawLxcEntries(conf: PveConf): ConfEntry[] {
  return conf.main.map(parseConfLine).filter((e): e is ConfEntry => e !== undefined && e.key.startsWith('lxc.'));
}

/** The non-raw settings of the main section (`key: value`), in file order. */
export function mainSettings(conf: PveConf): ConfEntry[] {
  return conf.main.map(parseConfLine).filter((e): e is ConfEntry => e !== undefined && !e.key.startsWith('lxc.'));
}

const REFUSED_RAW_KEYS: Record<string, string> = {
  'lxc.rootfs.path': 'it is generated from rootfs',
  'lxc.rootfs.options': 'Proxmox refuses it (use mount point options)',
};

function checkRawEntry(entry: ConfEntry): void {
  if (!/^lxc\.[A-Za-z0-9_.-]*[A-Za-z0-9_]$/.test(entry.key)) throw new Error(`raw lxc key ${JSON.stringify(entry.key)} must start with "lxc." and hold only letters, digits and _.-`);
  const reason = REFUSED_RAW_KEYS[entry.key];
  if (reason !== undefined) throw new Error(`raw lxc key ${entry.key} cannot be set: ${reason}`);
  if (/[\r\n]/.test(entry.value)) throw new Error(`raw lxc key ${entry.key}: the value must not contain a line break`);
}

/** Returns `conf` with `entries` appended to the main section (after its last non-blank line). */
export function addRawLxcEntries(conf: PveConf, entries: readonly ConfEntry[]): PveConf {
  for (const entry of entries) checkRawEntry(entry);
  const main = [...conf.main];
  let at = main.length;
  while (at > 0 && (main[at - 1] ?? '').trim() === '') at -= 1;
  main.splice(at, 0, ...entries.map((e) => `${e.key}: ${e.value}`));
  return { main, sections: conf.sections.map((s) => ({ name: s.name, lines: [...s.lines] })) };
}

/** Returns `conf` without the main section's raw entries whose key is in `keys`. */
export function removeRawLxcEntries(conf: PveConf, keys: readonly string[]): PveConf {
  const drop = new Set(keys);
  const main = conf.main.filter((line) => {
    const entry = parseConfLine(line);
    return !(entry && entry.key.startsWith('lxc.') && drop.has(entry.key));
  });
  return { main, sections: conf.sections.map((s) => ({ name: s.name, lines: [...s.lines] })) };
}

export async function readGuestConf(file: string): Promise<PveConf> {
  return parsePveConf(await fs.readFile(file, 'utf8'));
}

/** Writes `conf` to `file` atomically: a temp file in the same folder, then rename over it. */
export async function writeGuestConf(file: string, conf: PveConf): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp.${process.pid}`);
  try {
    await fs.writeFile(temp, formatPveConf(conf), { mode: 0o640 });
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}

/** Reads, edits and atomically rewrites one guest config; errors name the file. */
export async function editGuestConf(file: string, edit: (conf: PveConf) => PveConf): Promise<void> {
  let conf: PveConf;
  try {
    conf = await readGuestConf(file);
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  await writeGuestConf(file, edit(conf));
}
