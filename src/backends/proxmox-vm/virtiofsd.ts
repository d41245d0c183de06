/** Whether this node has virtiofsd (Debian package virtiofsd; Proxmox ships it at /usr/libexec). */
import fs from 'node:fs';
import path from 'node:path';

const KNOWN_PLACES = ['/usr/libexec/virtiofsd', '/usr/lib/qemu/virtiofsd'];

export function hasVirtiofsd(env: NodeJS.ProcessEnv = process.env): boolean {
  const searchPath = (env['PATH'] ?? '').split(':').filter((dir) => dir !== '').map((dir) => path.join(dir, 'virtiofsd'));
  return [...KNOWN_PLACES, ...searchPath].some((file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
