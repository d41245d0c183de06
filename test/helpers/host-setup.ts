/**
 * Host preparation shared by tests that run real LXC: the subordinate id
 * ranges unprivileged containers need (as a Proxmox node has them), and a
 * check that the commands a test relies on are installed.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** The range Proxmox's default id map uses: container 0 -> host 100000, 65536 ids. */
export const SUBID_LINE = 'root:100000:65536';

async function ensureLine(file: string, line: string): Promise<void> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (text.split('\n').some((l) => l.trim() === line)) return;
  const prefix = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  await writeFile(file, `${prefix}${line}\n`, { mode: 0o644 });
}

/** Adds `root:100000:65536` to /etc/subuid and /etc/subgid unless present. Idempotent. */
export async function ensureSubids(files: { subuid: string; subgid: string } = { subuid: '/etc/subuid', subgid: '/etc/subgid' }): Promise<void> {
  await ensureLine(files.subuid, SUBID_LINE);
  await ensureLine(files.subgid, SUBID_LINE);
}

/** Finds `name` on PATH (or checks an absolute path); returns its path or undefined. */
export async function findCommand(name: string): Promise<string | undefined> {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).concat(['/usr/sbin', '/sbin']).map((d) => join(d, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next directory
    }
  }
  return undefined;
}

/** Throws `required command not found: NAME` for the first missing command. */
export async function requireCommands(names: readonly string[]): Promise<void> {
  for (const name of names) {
    if ((await findCommand(name)) === undefined) {
      throw new Error(`required command not found: ${name} (install its Debian package)`);
    }
  }
}

/** Throws unless the process runs as root. */
export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${what} needs root`);
}
