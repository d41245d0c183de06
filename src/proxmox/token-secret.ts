/**
 * Reads the API token secret from its file. Whoever can change that file, or the folder it is in,
 * can make proxrun send a token of their choice, or read the real one: so the file must be a
 * regular file (not a symbolic link) owned by root (this process's user) with no access for group
 * or others, in a folder of root's with no access for group or others, below folders only root may
 * write (sticky ones such as /tmp excepted). The file is opened without following links and checked
 * through the open descriptor. The secret itself never appears in an error message.
 */
import fs from 'node:fs';
import path from 'node:path';
import { assertTrustedDir } from './private-dir.js';

function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** Returns the secret (surrounding whitespace removed); throws a one-line error naming the setting. */
export function readTokenSecret(file: string): string {
  const what = `proxrun config: proxmox.tokenSecretFile ${file}`;
  const uid = process.geteuid?.() ?? 0;
  const folder = path.dirname(file);
  let folderInfo: fs.Stats;
  try {
    folderInfo = fs.lstatSync(folder);
  } catch (err) {
    throw new Error(`${what} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (folderInfo.isSymbolicLink()) throw new Error(`${what}: its folder ${folder} is a symbolic link`);
  if ((folderInfo.mode & 0o077) !== 0) {
    throw new Error(`${what}: its folder ${folder} has mode ${modeText(folderInfo.mode)}; it must give group and others no access (chmod 700 ${folder})`);
  }
  try {
    assertTrustedDir(folder);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'ELOOP') throw new Error(`${what} is a symbolic link; name the file itself`);
    throw new Error(`${what} cannot be read (${code})`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new Error(`${what} is not a regular file`);
    if (stat.uid !== uid) throw new Error(`${what} belongs to uid ${stat.uid}; it must belong to uid ${uid} (chown ${uid} ${file})`);
    if ((stat.mode & 0o077) !== 0) {
      throw new Error(`${what} has mode ${modeText(stat.mode)}; it must be 0600 or stricter (chmod 600 ${file})`);
    }
    let secret: string;
    try {
      secret = fs.readFileSync(fd, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new Error(`${what} cannot be read (${code})`);
    }
    if (secret === '') throw new Error(`${what} is empty`);
    if (/[\s\0]/.test(secret)) throw new Error(`${what} must hold the secret alone on one line`);
    return secret;
  } finally {
    fs.closeSync(fd);
  }
}
