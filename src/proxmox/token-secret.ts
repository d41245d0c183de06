/**
 * Reads the API token secret from its file. The file must be readable by its owner only (mode 0600
 * or stricter); the secret itself never appears in an error message.
 */
import fs from 'node:fs';

/** Returns the secret (surrounding whitespace removed); throws a one-line error naming the setting. */
export function readTokenSecret(file: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new Error(`proxrun config: proxmox.tokenSecretFile ${file} cannot be read (${code})`);
  }
  if (!stat.isFile()) throw new Error(`proxrun config: proxmox.tokenSecretFile ${file} is not a regular file`);
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `proxrun config: proxmox.tokenSecretFile ${file} has mode ${mode.toString(8).padStart(4, '0')}; it must be 0600 or stricter (chmod 600 ${file})`,
    );
  }
  let secret: string;
  try {
    secret = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new Error(`proxrun config: proxmox.tokenSecretFile ${file} cannot be read (${code})`);
  }
  if (secret === '') throw new Error(`proxrun config: proxmox.tokenSecretFile ${file} is empty`);
  if (/[\s\0]/.test(secret)) throw new Error(`proxrun config: proxmox.tokenSecretFile ${file} must hold the secret alone on one line`);
  return secret;
}
