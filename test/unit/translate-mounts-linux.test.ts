import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { translateSpec } from '../../src/backends/proxmox-lxc/translate/translate.js';
import { OPTIONS, withSpec } from './translate-helpers.js';

const mountEntries = (mounts: unknown[], options = OPTIONS) =>
  translateSpec(withSpec({ mounts }), options).plan?.rawLxc.filter(([key]) => key === 'lxc.mount.entry').map(([, value]) => value);

describe('translateSpec: mounts', () => {
  it('leaves out the kernel file systems LXC mounts itself', () => {
    assert.deepEqual(mountEntries([
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['ro'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['mode=755'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts' },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro'] },
    ]), []);
  });

  const entries: Array<[string, unknown, string]> = [
    ['a read-only bind of a folder', { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro', 'rprivate'] }, '/srv/data data none rbind,ro,create=dir 0 0'],
    ['a bind of /etc/hosts as a file', { destination: '/etc/hosts', type: 'bind', source: '/run/x/hosts', options: ['bind', 'rprivate'] }, '/run/x/hosts etc/hosts none bind,create=file 0 0'],
    ['a bind without a type', { destination: '/a/', source: '/b', options: ['bind', 'nosuid'] }, '/b a none bind,nosuid,create=dir 0 0'],
    ['/dev/shm as tmpfs', { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] }, 'shm dev/shm tmpfs nosuid,noexec,nodev,mode=1777,size=65536k,create=dir 0 0'],
    ['/dev/mqueue', { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] }, 'mqueue dev/mqueue mqueue nosuid,noexec,nodev,create=dir 0 0'],
    ['a read-only tmpfs', { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'mode=755'] }, 'tmpfs run tmpfs ro,mode=755,create=dir 0 0'],
    ['a tmpfs whose source is a path: only a name, the type', { destination: '/mnt', type: 'tmpfs', source: '/', options: ['size=1m', 'nr_inodes=1k', 'uid=1000', 'gid=1000'] }, 'tmpfs mnt tmpfs size=1m,nr_inodes=1k,uid=1000,gid=1000,create=dir 0 0'],
  ];
  for (const [name, mount, entry] of entries) {
    it(`turns ${name} into an lxc.mount.entry`, () => assert.deepEqual(mountEntries([mount]), [entry]));
  }

  it('takes file or folder from sourceKinds when the backend gives it', () => {
    const mount = { destination: '/etc/app.conf', type: 'bind', source: '/host/app.conf', options: ['bind'] };
    assert.deepEqual(mountEntries([mount], { ...OPTIONS, sourceKinds: { '/host/app.conf': 'file' } }), ['/host/app.conf etc/app.conf none bind,create=file 0 0']);
  });

  const refused: Array<[string, unknown, string, string]> = [
    ['an nfs mount', { destination: '/mnt', type: 'nfs', source: 'h:/x' }, '/mounts/0/type', 'mount type "nfs" at /mnt is not supported by the proxmox-lxc backend'],
    ['proc elsewhere', { destination: '/proc2', type: 'proc', source: 'proc' }, '/mounts/0/type', 'mount type "proc" at /proc2 is not supported by the proxmox-lxc backend'],
    ['a newline in the destination', { destination: '/a\nb', type: 'bind', source: '/b', options: ['bind'] }, '/mounts/0/destination', 'must not contain white space, control characters or ".." (lxc.mount.entry is fstab syntax)'],
    ['a relative bind source', { destination: '/a', type: 'bind', source: 'b', options: ['bind'] }, '/mounts/0/source', 'a bind source must be an absolute host path without white space, control characters or ".."'],
    ['shared propagation', { destination: '/a', type: 'bind', source: '/b', options: ['bind', 'rshared'] }, '/mounts/0/options', 'mount option "rshared" is not supported for bind mounts by the proxmox-lxc backend'],
    ['an idmapped mount', { destination: '/a', type: 'bind', source: '/b', options: ['bind'], uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }, '/mounts/0', 'idmapped mounts are not supported by the proxmox-lxc backend'],
    // A tmpfs option goes into the entry's options field as it is: its value may carry nothing more.
    ['a tmpfs size that smuggles rbind', { source: '/', type: 'tmpfs', destination: '/mnt', options: ['size=1m,rbind'] }, '/mounts/0/options/0', '"size=1m,rbind": the value of size must match /^[0-9]+[kmgKMG%]?$/ (the option goes into an lxc.mount.entry as it is)'],
    ['a space in a tmpfs option', { source: 'tmpfs', type: 'tmpfs', destination: '/mnt', options: ['mode=755 0 0'] }, '/mounts/0/options/0', '"mode=755 0 0": the value of mode must match /^[0-7]{1,4}$/ (the option goes into an lxc.mount.entry as it is)'],
    ['a newline in a tmpfs option', { source: 'tmpfs', type: 'tmpfs', destination: '/mnt', options: ['nosuid', 'uid=0\nlxc.apparmor.profile=unconfined'] }, '/mounts/0/options/1', '"uid=0\\nlxc.apparmor.profile=unconfined": the value of uid must match /^[0-9]+$/ (the option goes into an lxc.mount.entry as it is)'],
    ['an unknown tmpfs option', { source: 'tmpfs', type: 'tmpfs', destination: '/mnt', options: ['huge=always'] }, '/mounts/0/options/0', 'mount option "huge=always" is not supported for this mount by the proxmox-lxc backend'],
  ];
  for (const [name, mount, path, message] of refused) {
    it(`refuses ${name}`, () => assert.deepEqual(translateSpec(withSpec({ mounts: [mount] }), OPTIONS).problems, [{ path, message }]));
  }
});

describe('translateSpec: linux namespaces, sysctl, paths and the rest', () => {
  const NS = ['pid', 'ipc', 'uts', 'mount'].map((type) => ({ type }));
  const refused: Array<[string, Record<string, unknown>, Array<{ path: string; message: string }>]> = [
    ['a network namespace path', { namespaces: [...NS, { type: 'network', path: '/run/netns/x' }] }, [{ path: '/linux/namespaces/4/path', message: 'joining an existing network namespace is not possible: Proxmox gives the container a network namespace of its own' }]],
    ['the host network', { namespaces: NS }, [{ path: '/linux/namespaces', message: 'has no network namespace: a proxmox-lxc container cannot use the host network' }]],
    ['the host pid namespace', { namespaces: [{ type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }] }, [{ path: '/linux/namespaces', message: "has no pid namespace: a proxmox-lxc container cannot share the host's" }]],
    ['a time namespace', { namespaces: [...NS, { type: 'network' }, { type: 'time' }] }, [{ path: '/linux/namespaces/5', message: 'time namespaces are not supported by the proxmox-lxc backend' }]],
    ['a foreign id mapping', { namespaces: [...NS, { type: 'network' }, { type: 'user' }], uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] }, [{ path: '/linux/uidMappings', message: "only Proxmox's own mapping (containerID 0, hostID 100000, size 65536) is supported" }]],
    ['a net sysctl', { sysctl: { 'net.ipv4.ping_group_range': '0 0' } }, [{ path: '/linux/sysctl/net.ipv4.ping_group_range', message: 'Proxmox allows only the IPC-namespaced sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue) as raw keys' }]],
    ['an extra masked path', { maskedPaths: ['/proc/kcore', '/etc/secret'] }, [{ path: '/linux/maskedPaths/1', message: 'masked path /etc/secret is not one the proxmox-lxc container already protects' }]],
    ['an extra read-only path', { readonlyPaths: ['/proc/sys', '/data'] }, [{ path: '/linux/readonlyPaths/1', message: 'read-only path /data is not one the proxmox-lxc container already protects' }]],
    ['rootfsPropagation', { rootfsPropagation: 'shared' }, [{ path: '/linux/rootfsPropagation', message: 'rootfs propagation is not supported by the proxmox-lxc backend' }]],
    ['personality', { personality: { domain: 'LINUX32' } }, [{ path: '/linux/personality', message: 'personality is not supported by the proxmox-lxc backend' }]],
  ];
  for (const [name, linux, problems] of refused) {
    it(`refuses ${name}`, () => assert.deepEqual(translateSpec(withSpec({ linux }), OPTIONS).problems, problems));
  }

  it('accepts Proxmox\'s own id mapping, IPC sysctls, the standard masked paths and any cgroupsPath', () => {
    const result = translateSpec(withSpec({ linux: {
      namespaces: [...NS, { type: 'network' }, { type: 'user' }, { type: 'cgroup' }],
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      sysctl: { 'kernel.shmmax': '1000', 'kernel/msgmax': '2000' },
      maskedPaths: ['/proc/kcore', '/sys/firmware'],
      readonlyPaths: ['/proc/sys', '/proc/sysrq-trigger'],
      cgroupsPath: 'machine.slice:libpod:abc',
    } }), OPTIONS);
    assert.deepEqual(result.problems, []);
    assert.deepEqual(result.plan?.rawLxc.filter(([key]) => key.startsWith('lxc.sysctl.')), [['lxc.sysctl.kernel.shmmax', '1000'], ['lxc.sysctl.kernel.msgmax', '2000']]);
  });

  it('accepts every hook kind: the host-side ones and createContainer/startContainer, which run inside the CT', () => {
    const hook = [{ path: '/bin/true' }];
    const result = translateSpec(withSpec({ hooks: { prestart: hook, createRuntime: hook, createContainer: hook, startContainer: hook, poststart: hook, poststop: hook } }), OPTIONS);
    assert.deepEqual(result.problems, []);
    assert.notEqual(result.plan, undefined);
  });

  it('makes root.readonly the plan\'s readonlyRoot', () => {
    assert.equal(translateSpec(withSpec({ root: { path: 'rootfs', readonly: true } }), OPTIONS).plan?.readonlyRoot, true);
    assert.equal(translateSpec(withSpec({}), OPTIONS).plan?.readonlyRoot, false);
  });
});
