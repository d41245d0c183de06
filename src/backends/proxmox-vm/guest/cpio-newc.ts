/**
 * Writes a cpio archive in the "newc" format (the one the Linux kernel
 * unpacks as an initramfs) from an in-memory list of entries. No file of the
 * host is read and no privilege is needed: device nodes and ownership are
 * just numbers in the headers.
 */

/** One entry of the archive. Paths are relative ("bin/busybox"), without a leading slash. */
export type CpioEntry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode: number }
  | { readonly kind: 'file'; readonly path: string; readonly mode: number; readonly data: Uint8Array }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  | { readonly kind: 'char'; readonly path: string; readonly mode: number; readonly major: number; readonly minor: number };

const TYPE_BITS = { dir: 0o040000, file: 0o100000, symlink: 0o120000, char: 0o020000 } as const;
const TRAILER = 'TRAILER!!!';

function hex8(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`cpio header field out of range: ${value}`);
  }
  return value.toString(16).padStart(8, '0');
}

function padTo4(length: number): number {
  return (4 - (length % 4)) % 4;
}

function entryBody(entry: CpioEntry): Uint8Array {
  if (entry.kind === 'file') return entry.data;
  if (entry.kind === 'symlink') return Buffer.from(entry.target, 'utf8');
  return new Uint8Array(0);
}

function entryMode(entry: CpioEntry): number {
  const permissions = entry.kind === 'symlink' ? 0o777 : entry.mode & 0o7777;
  return TYPE_BITS[entry.kind] | permissions;
}

function header(inode: number, entry: CpioEntry | undefined, name: string, bodyLength: number): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const isChar = entry?.kind === 'char';
  const fields = [
    '070701',
    hex8(inode),
    hex8(entry ? entryMode(entry) : 0),
    hex8(0), // uid
    hex8(0), // gid
    hex8(entry?.kind === 'dir' ? 2 : 1), // nlink
    hex8(0), // mtime: fixed, so equal inputs give equal archives
    hex8(bodyLength),
    hex8(0), hex8(0), // devmajor, devminor of the file system
    hex8(isChar ? entry.major : 0),
    hex8(isChar ? entry.minor : 0),
    hex8(nameBytes.length),
    hex8(0), // check
  ].join('');
  const head = Buffer.from(fields, 'ascii');
  return Buffer.concat([head, nameBytes, Buffer.alloc(padTo4(head.length + nameBytes.length))]);
}

/** The whole archive, trailer included, as one buffer (uncompressed). */
export function writeCpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Uint8Array[] = [];
  const seen = new Set<string>();
  entries.forEach((entry, index) => {
    if (entry.path.startsWith('/') || entry.path === '' || entry.path.includes('\0')) {
      throw new Error(`cpio entry path must be relative and non-empty: ${JSON.stringify(entry.path)}`);
    }
    if (seen.has(entry.path)) throw new Error(`cpio entry listed twice: ${entry.path}`);
    seen.add(entry.path);
    const body = entryBody(entry);
    parts.push(header(index + 1, entry, entry.path, body.length), body, Buffer.alloc(padTo4(body.length)));
  });
  parts.push(header(0, undefined, TRAILER, 0));
  return Buffer.concat(parts);
}
