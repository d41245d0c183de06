/**
 * Which Linux security modules this node runs, read the way runc reads them: AppArmor when
 * /sys/kernel/security/apparmor exists and /sys/module/apparmor/parameters/enabled says "Y"
 * (libcontainer/apparmor isEnabled), SELinux when selinuxfs is mounted (/sys/fs/selinux/enforce).
 * Translation gets the answer as a fact, so it stays pure.
 */
import fs from 'node:fs';
import type { HostSecurity } from './translate/translate-process.js';

export function hostSecurity(): HostSecurity {
  let apparmor = false;
  try {
    apparmor = fs.existsSync('/sys/kernel/security/apparmor') && fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').startsWith('Y');
  } catch {
    apparmor = false;
  }
  return { apparmor, selinux: fs.existsSync('/sys/fs/selinux/enforce') };
}
