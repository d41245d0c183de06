/** The VM command line from a qemu-server config, and `args` splitting checked against Perl's shellwords. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { splitArgs } from './qemu-args.js';
import { buildVmCmdline, parsePropertyString } from './qemu-cmdline.js';

/** What qemu-server's split_args (Text::ParseWords::shellwords) makes of `text`. */
function perlShellwords(text: string): string[] {
  const out = execFileSync('perl', ['-MText::ParseWords', '-e', 'print join("\\0", shellwords($ARGV[0]))', '--', text], { encoding: 'utf8' });
  return out === '' ? [] : out.split('\0');
}

test('args are split exactly as Perl shellwords splits them', () => {
  const cases = [
    "-kernel /boot/vmlinuz -initrd /tmp/i.gz -append 'console=ttyS0 quiet'",
    '-append "a b\\"c" plain',
    "  lead   and trail  ",
    "joined'single quoted'\"double\"bare",
    'escaped\\ space and \\\\backslash',
    "-device 'virtio-serial,id=x' -chardev socket,id=c,path=/tmp/a\\ b",
    "'it\\'s' kept",
    '',
  ];
  for (const c of cases) assert.deepEqual(splitArgs(c), perlShellwords(c), `case ${JSON.stringify(c)}`);
  assert.throws(() => splitArgs("-append 'open"), /unbalanced/);
});

test('property strings take a default key for a bare leading value', () => {
  assert.deepEqual(parsePropertyString('local:100/vm-100-disk-0.raw,cache=writeback,ro=1', 'file'), { file: 'local:100/vm-100-disk-0.raw', cache: 'writeback', ro: '1' });
  assert.deepEqual(parsePropertyString('current=256', 'current'), { current: '256' });
});

test('the command line holds sockets in the run folder, the config values, disks by boot order, and args last', () => {
  const argv = buildVmCmdline({
    vmid: 123,
    qemuRunDir: '/run/qs',
    accel: 'tcg',
    resolveVolume: (v) => `/vz/images/${v.split(':')[1] ?? ''}`,
    props: {
      name: 'web',
      memory: 'current=384',
      sockets: '2',
      cores: '2',
      smbios1: 'uuid=11111111-2222-3333-4444-555555555555',
      serial0: 'socket',
      vga: 'serial0',
      agent: 'enabled=1',
      scsihw: 'virtio-scsi-pci',
      scsi0: 'local:123/vm-123-disk-0.raw,cache=writeback,size=1G',
      virtio1: 'local:123/vm-123-disk-1.qcow2,ro=1',
      boot: 'order=virtio1;scsi0',
      args: "-append 'a b'",
    },
  });
  const after = (flag: string): string | undefined => argv[argv.indexOf(flag) + 1];
  assert.equal(after('-name'), 'web,debug-threads=on');
  assert.equal(after('-m'), '384');
  assert.equal(after('-smp'), '4,sockets=2,cores=2,maxcpus=4');
  assert.equal(after('-accel'), 'tcg');
  assert.equal(after('-pidfile'), '/run/qs/123.pid');
  assert.ok(argv.includes('-daemonize'));
  assert.equal(after('-smbios'), 'type=1,uuid=11111111-2222-3333-4444-555555555555');
  assert.ok(argv.includes('socket,id=qmp,path=/run/qs/123.qmp,server=on,wait=off'));
  assert.ok(argv.includes('socket,id=serial0,path=/run/qs/123.serial0,server=on,wait=off'));
  assert.ok(argv.includes('isa-serial,chardev=serial0'));
  assert.equal(after('-display'), 'none', 'a serial vga has no display');
  assert.equal(argv.includes('-vnc'), false);
  assert.ok(argv.includes('virtserialport,chardev=qga0,name=org.qemu.guest_agent.0'));
  assert.ok(argv.includes('virtio-scsi-pci,id=scsihw0'));
  assert.ok(argv.includes('file=/vz/images/123/vm-123-disk-0.raw,if=none,id=drive-scsi0,format=raw,cache=writeback'));
  assert.ok(argv.includes('scsi-hd,bus=scsihw0.0,channel=0,scsi-id=0,lun=0,drive=drive-scsi0,id=scsi0,bootindex=101'));
  assert.ok(argv.includes('file=/vz/images/123/vm-123-disk-1.qcow2,if=none,id=drive-virtio1,format=qcow2,readonly=on'));
  assert.ok(argv.includes('virtio-blk-pci,drive=drive-virtio1,id=virtio1,bootindex=100'));
  assert.deepEqual(argv.slice(-2), ['-append', 'a b']);
});

test('defaults: 512 MiB, one CPU, kvm64 on the pc machine, std vga with a VNC socket, lsi for scsi', () => {
  const argv = buildVmCmdline({ vmid: 5, qemuRunDir: '/r', accel: 'kvm', resolveVolume: (v) => `/x/${v}`, props: { scsi0: 'local:5/vm-5-disk-0.raw' } });
  const after = (flag: string): string | undefined => argv[argv.indexOf(flag) + 1];
  assert.equal(after('-m'), '512');
  assert.equal(after('-smp'), '1,sockets=1,cores=1,maxcpus=1');
  assert.equal(after('-cpu'), 'kvm64');
  assert.equal(after('-machine'), 'type=pc');
  assert.equal(after('-accel'), 'kvm');
  assert.equal(after('-vnc'), 'unix:/r/5.vnc,password=on');
  assert.ok(argv.includes('VGA,id=vga'));
  assert.ok(argv.includes('lsi,id=scsihw0'));
  assert.ok(argv.includes('scsi-hd,bus=scsihw0.0,scsi-id=0,drive=drive-scsi0,id=scsi0'));
  assert.equal(after('-name'), 'VM5,debug-threads=on');
});
