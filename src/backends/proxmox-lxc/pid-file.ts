/**
 * The pid file as containerd and conmon read it: digits only, no newline,
 * written atomically (temp file in the same folder, then rename).
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export async function writePidFile(file: string, pid: number): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(tmp, String(pid), { mode: 0o644, flag: 'wx' });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
