/**
 * Builds a minimal root filesystem from Debian's busybox-static: one static
 * binary, symlinks for the applets tests use, and just enough of /etc for
 * user and group lookups (root, nobody, and `app` with uid/gid 1000).
 */
import { access, chmod, chown, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where Debian's busybox-static installs its binary. */
export const HOST_BUSYBOX = '/usr/bin/busybox';

/** Applets linked into /bin of the rootfs. */
export const BUSYBOX_APPLETS: readonly string[] = [
  'sh', 'ash', 'echo', 'cat', 'sleep', 'ls', 'id', 'kill', 'true', 'false', 'env', 'pwd', 'touch',
  'mkdir', 'ps', 'grep', 'sed', 'head', 'tail', 'printf', 'test', '[', 'wc', 'rm', 'cp', 'mv', 'ln',
  'chmod', 'chown', 'stat', 'readlink', 'mkfifo', 'tr', 'cut', 'sort', 'uniq', 'tee', 'date', 'uname',
  'hostname', 'whoami', 'dd', 'seq', 'xargs', 'find', 'basename', 'dirname', 'mount', 'umount', 'df',
  'du', 'nproc', 'free', 'timeout', 'yes', 'expr', 'awk', 'md5sum', 'sha256sum', 'setsid',
  'nc', 'ip', 'ifconfig', 'wget', 'tar', 'gzip', 'zcat', 'which', 'usleep', 'rmdir', 'stty', 'tty',
];

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'app:x:1000:1000:app:/home/app:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');

const GROUP = ['root:x:0:', 'app:x:1000:', 'nogroup:x:65534:', ''].join('\n');

/**
 * Fills `dir` (created if missing) with a busybox rootfs. Throws naming the
 * missing binary when busybox-static is not installed.
 */
export async function makeBusyboxRootfs(dir: string): Promise<void> {
  try {
    await access(HOST_BUSYBOX);
  } catch {
    throw new Error(`${HOST_BUSYBOX} not found: install Debian package busybox-static`);
  }
  for (const sub of ['bin', 'sbin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'home/app', 'usr/bin', 'var/tmp', 'run']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  await chmod(join(dir, 'tmp'), 0o1777);
  await chmod(join(dir, 'var/tmp'), 0o1777);
  await chmod(join(dir, 'root'), 0o700);
  await chown(join(dir, 'home/app'), 1000, 1000);
  await copyFile(HOST_BUSYBOX, join(dir, 'bin/busybox'));
  await chmod(join(dir, 'bin/busybox'), 0o755);
  for (const applet of BUSYBOX_APPLETS) {
    await symlink('busybox', join(dir, 'bin', applet));
  }
  await writeFile(join(dir, 'etc/passwd'), PASSWD, { mode: 0o644 });
  await writeFile(join(dir, 'etc/group'), GROUP, { mode: 0o644 });
  await writeFile(join(dir, 'etc/hostname'), 'busybox\n', { mode: 0o644 });
}
