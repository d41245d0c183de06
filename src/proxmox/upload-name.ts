/**
 * Names of files put into a storage: one path component of safe characters, with the extension
 * Proxmox requires for the content type (pve-storage refuses others with "wrong file extension").
 */
export type UploadContent = 'vztmpl' | 'import' | 'iso';

const EXTENSIONS: Record<UploadContent, RegExp> = {
  vztmpl: /\.(tar|tar\.(gz|xz|zst|bz2))$/,
  iso: /\.(iso|img)$/i,
  import: /\.(raw|qcow2|vmdk|ova)$/,
};

/** Throws a one-line error naming `filename` when the name cannot be stored as `content`. */
export function checkUploadName(content: UploadContent, filename: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/.test(filename)) {
    throw new Error(`proxmox upload: filename ${JSON.stringify(filename)} must be one name of letters, digits and _.+- (no folders)`);
  }
  if (!EXTENSIONS[content].test(filename)) {
    throw new Error(`proxmox upload: filename ${JSON.stringify(filename)} has the wrong extension for content ${content}`);
  }
}

/** The volume id a stored file gets: `<storage>:<content>/<filename>`. */
export function uploadVolid(storage: string, content: UploadContent, filename: string): string {
  return `${storage}:${content}/${filename}`;
}
