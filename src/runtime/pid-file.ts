/**
 * The pid file as containerd and conmon read it: digits only, no newline,
 * written atomically (a temp file in the same folder, then rename), before the
 * command that owes it returns.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export async function writePidFile(file: string, pid: number): Promise<void> {
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no pid to write into ${file}`);
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(temp, String(pid), { mode: 0o644, flag: 'wx' });
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
