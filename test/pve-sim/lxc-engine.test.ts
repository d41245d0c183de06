import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBusyboxRootfs } from '../helpers/busybox-rootfs.js';
import { ensureSubids, requireCommands, requireRoot } from '../helpers/host-setup.js';
import { packOciArchive, packPlainTemplate } from '../helpers/oci-archive.js';
import { monitordAccepted } from '../helpers/lxc-monitor.js';
import type { CtStartContext, PveGuestConfig, SimDirStorage, SimNodePaths } from './types.js';
import { ctStatus, execInCt, generateLxcConfig, pullFile, pushFile, startCt, stopCt, type HostLxcSupport } from './lxc-engine.js';
import { detectOstype, extractTemplate } from './template.js';
import { allocRootdirVolume, initDirStorage, loopDevicesFor, mountVolume, resolveVolumeId, unmountTree } from './volumes.js';

const V1: HostLxcSupport = { cgroupVersion: 1, memsw: false, runtimeEnvKey: false, cpus: 2, lxcConfigDir: '/usr/share/lxc/config' };
const V2: HostLxcSupport = { cgroupVersion: 2, memsw: false, runtimeEnvKey: true, cpus: 4, lxcConfigDir: '/usr/share/lxc/config' };

function values(entries: Array<[string, string]>, key: string): string[] {
  return entries.filter(([k]) => k === key).map(([, v]) => v);
}

describe('generateLxcConfig', () => {
  const base: PveGuestConfig = {
    props: { rootfs: 'local:100/vm-100-disk-0.raw,size=1G', memory: '256', swap: '128', cpulimit: '1.5', cpuunits: '2048', cores: '8', hostname: 'web', ostype: 'debian', unprivileged: '1', entrypoint: '/bin/app --serve', env: 'A=1\0B=two words' },
    lxc: [['lxc.init.cwd', '/srv'], ['lxc.environment.runtime', 'IGNORED=1'], ['lxc.signal.halt', 'SIGTERM']],
  };

  it('writes the Proxmox-style config for an unprivileged application CT on cgroup v1', () => {
    const g = generateLxcConfig(100, base, { lxcPath: '/var/lib/lxc', support: V1 });
    assert.deepEqual(values(g.entries, 'lxc.include'), ['/usr/share/lxc/config/debian.common.conf', '/usr/share/lxc/config/debian.userns.conf']);
    assert.deepEqual(values(g.entries, 'lxc.idmap'), ['u 0 100000 65536', 'g 0 100000 65536']);
    assert.deepEqual(values(g.entries, 'lxc.uts.name'), ['web']);
    assert.deepEqual(values(g.entries, 'lxc.rootfs.path'), ['/var/lib/lxc/100/rootfs']);
    assert.deepEqual(values(g.entries, 'lxc.init.cmd'), ['/bin/app --serve']);
    assert.deepEqual(values(g.entries, 'lxc.cgroup.memory.limit_in_bytes'), [String(256 * 1024 * 1024)]);
    assert.deepEqual(values(g.entries, 'lxc.cgroup.cpu.cfs_quota_us'), ['150000']);
    assert.deepEqual(values(g.entries, 'lxc.cgroup.cpu.shares'), ['2048']);
    assert.deepEqual(values(g.entries, 'lxc.cgroup.cpuset.cpus'), ['0-1'], 'cores capped at host CPUs');
    assert.equal(g.entries.some(([k]) => k.startsWith('lxc.cgroup2.')), false);
    assert.deepEqual(values(g.entries, 'lxc.environment'), ['TERM=linux', 'A=1', 'B=two words'], 'env replaces raw runtime lines');
    assert.deepEqual(values(g.entries, 'lxc.net.0.type'), ['empty']);
    assert.ok(g.notes.some((n) => /no network/.test(n)));
    assert.deepEqual(values(g.entries, 'lxc.mount.entry'), ['shm dev/shm tmpfs rw,nosuid,nodev,create=dir 0 0']);
    const keys = g.entries.map(([k]) => k);
    assert.ok(keys.indexOf('lxc.init.cwd') > keys.indexOf('lxc.mount.entry'), 'raw keys come last');
    assert.deepEqual(g.entries.slice(-2), [['lxc.init.cwd', '/srv'], ['lxc.signal.halt', 'SIGTERM']]);
    assert.match(g.text, /^lxc\.arch = amd64\n/);
  });

  it('uses cgroup2 keys and lxc.environment.runtime where the host has them', () => {
    const g = generateLxcConfig(100, base, { lxcPath: '/var/lib/lxc', support: V2 });
    assert.deepEqual(values(g.entries, 'lxc.cgroup2.memory.max'), [String(256 * 1024 * 1024)]);
    assert.deepEqual(values(g.entries, 'lxc.cgroup2.memory.swap.max'), [String(128 * 1024 * 1024)]);
    assert.deepEqual(values(g.entries, 'lxc.cgroup2.cpu.max'), ['150000 100000']);
    assert.deepEqual(values(g.entries, 'lxc.cgroup2.cpu.weight'), ['2048']);
    assert.deepEqual(values(g.entries, 'lxc.environment.runtime'), ['A=1', 'B=two words']);
  });

  it('keeps system CTs without /dev/shm, honours console 0, and wires nets only inside a netns', () => {
    const conf: PveGuestConfig = { props: { rootfs: 'local:100/x', console: '0', net0: 'name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=10.0.0.5/24,gw=10.0.0.1,host-managed=1' }, lxc: [] };
    const plain = generateLxcConfig(101, conf, { lxcPath: '/l', support: V1 });
    assert.deepEqual(values(plain.entries, 'lxc.init.cmd'), ['/sbin/init']);
    assert.deepEqual(values(plain.entries, 'lxc.mount.entry'), []);
    assert.deepEqual(values(plain.entries, 'lxc.console.path'), ['none']);
    assert.deepEqual(values(plain.entries, 'lxc.include'), ['/usr/share/lxc/config/common.conf']);
    assert.deepEqual(values(plain.entries, 'lxc.idmap'), []);
    assert.deepEqual(values(plain.entries, 'lxc.uts.name'), ['CT101']);
    assert.ok(plain.notes.some((n) => /net0 ignored/.test(n)));
    const inNs = generateLxcConfig(101, conf, { lxcPath: '/l', support: V1, netns: 'pvesim', netUpHook: '/l/101/net-up' });
    assert.deepEqual(values(inNs.entries, 'lxc.net.0.type'), ['veth']);
    assert.deepEqual(values(inNs.entries, 'lxc.net.0.veth.pair'), ['veth101i0']);
    assert.deepEqual(values(inNs.entries, 'lxc.net.0.link'), [], 'the bridge is not one of the host');
    assert.deepEqual(values(inNs.entries, 'lxc.net.0.script.up'), ['/l/101/net-up pvesim vmbr0']);
    assert.deepEqual(values(inNs.entries, 'lxc.net.0.ipv4.address'), ['10.0.0.5/24']);
    assert.deepEqual(values(inNs.entries, 'lxc.net.0.ipv4.gateway'), ['10.0.0.1']);
  });

  it('refuses lxc.rootfs.path and bad values with the field named', () => {
    assert.throws(() => generateLxcConfig(1, { props: {}, lxc: [['lxc.rootfs.path', '/x']] }, { lxcPath: '/l', support: V1 }), /lxc.rootfs.path is auto generated from rootfs/);
    assert.throws(() => generateLxcConfig(1, { props: { arch: 'sparc' }, lxc: [] }, { lxcPath: '/l', support: V1 }), /^Error: arch: /);
    assert.throws(() => generateLxcConfig(1, { props: { memory: 'lots' }, lxc: [] }, { lxcPath: '/l', support: V1 }), /^Error: memory: /);
    assert.throws(() => generateLxcConfig(1, { props: { env: 'no-equals' }, lxc: [] }, { lxcPath: '/l', support: V1 }), /^Error: env: /);
  });
});

/** Processes whose command line is exactly `lxc-monitord <lxcPath> ...` (started by our lxc-monitor). */
async function monitordPids(lxcPath: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if ((argv[0] ?? '').endsWith('lxc-monitord') && argv[1] === lxcPath) pids.push(Number(entry));
    } catch {
      // process went away
    }
  }
  return pids;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('LXC engine with real LXC (root)', () => {
  let root = '';
  let node: SimNodePaths;
  let storage: SimDirStorage;
  let outDir = '';
  const started: number[] = [];
  const monitors: ChildProcess[] = [];
  let nextVmid = 900000 + Math.floor(Math.random() * 99000);
  const log: string[] = [];

  function context(vmid: number): CtStartContext {
    return { vmid, node, resolveVolume: (volid) => resolveVolumeId([storage], volid), log: (line) => log.push(`${vmid}: ${line}`) };
  }

  /** Creates a CT from `archive` the way the simulator's create does, with /out bound to a host folder. */
  async function createCt(archive: string, opts: { unprivileged: boolean; sizeGiB: number; props?: Record<string, string>; lxc?: Array<[string, string]> }): Promise<{ vmid: number; conf: PveGuestConfig; out: string }> {
    nextVmid += 1;
    const vmid = nextVmid;
    const volid = await allocRootdirVolume(storage, vmid, { sizeGiB: opts.sizeGiB, unprivileged: opts.unprivileged });
    const staging = join(root, `staging-${vmid}`);
    await mountVolume(resolveVolumeId([storage], volid), staging);
    let extracted;
    let ostype: string;
    try {
      extracted = await extractTemplate(archive, staging, { unprivileged: opts.unprivileged });
      ostype = (await detectOstype(staging, vmid)).ostype;
    } finally {
      await unmountTree(staging);
    }
    const out = join(outDir, String(vmid));
    await mkdir(out);
    await chmod(out, 0o777);
    const props: Record<string, string> = {
      rootfs: `${volid},size=${opts.sizeGiB}G`,
      unprivileged: opts.unprivileged ? '1' : '0',
      ostype,
      hostname: `ct${vmid}`,
      memory: '256',
      swap: '0',
      cmode: 'console',
      mp0: `${out},mp=/out`,
      ...opts.props,
    };
    if (extracted.oci?.entrypoint !== undefined) props.entrypoint = extracted.oci.entrypoint;
    if (extracted.oci?.env !== undefined) props.env = extracted.oci.env;
    return { vmid, conf: { props, lxc: [...(extracted.oci?.lxc ?? []), ...(opts.lxc ?? [])] }, out };
  }

  async function start(vmid: number, conf: PveGuestConfig): Promise<void> {
    started.push(vmid);
    await startCt(conf, context(vmid));
  }

  async function assertGone(vmid: number, volumeFile?: string): Promise<void> {
    assert.equal((await ctStatus(vmid, { node })).running, false);
    const mounts = await readFile('/proc/mounts', 'utf8');
    assert.ok(!mounts.includes(join(node.lxcPath, String(vmid))), `no mount of CT ${vmid} left in /proc/mounts`);
    if (volumeFile !== undefined) assert.deepEqual(await loopDevicesFor(volumeFile), [], 'no loop device left');
    const pidFiles = (await readdir(node.runDir)).filter((f) => f === `ct-${vmid}.lxc-start.pid`);
    assert.deepEqual(pidFiles, [], 'lxc-start is gone');
  }

  let plainTemplate = '';
  let ociTemplate = '';

  before(async () => {
    requireRoot('lxc-engine.test.ts');
    await requireCommands(['lxc-start', 'lxc-stop', 'lxc-info', 'lxc-attach', 'lxc-monitor', 'lxc-usernsexec', 'newuidmap', 'mkfs.ext4', 'losetup', 'findmnt', 'mountpoint']);
    await ensureSubids();
    root = await mkdtemp(join(tmpdir(), 'pve-lxc-'));
    await chmod(root, 0o755);
    node = { node: 'pve1', binDir: join(root, 'bin'), lxcPath: join(root, 'lxc'), runDir: join(root, 'run'), qemuRunDir: join(root, 'qemu') };
    await mkdir(node.lxcPath, { mode: 0o755 });
    await mkdir(node.runDir);
    storage = { id: 'local', path: join(root, 'storage'), content: ['vztmpl', 'rootdir', 'images'] };
    await initDirStorage(storage);
    outDir = join(root, 'out');
    await mkdir(outDir, { mode: 0o755 });

    const rootfs = join(root, 'rootfs');
    await makeBusyboxRootfs(rootfs);
    await writeFile(
      join(rootfs, 'report.sh'),
      [
        '#!/bin/sh',
        // The traps come first: a test that saw the result may send the halt signal, which a PID 1
        // without a handler for it would never get.
        'trap \'echo "halt:USR1" > /out/signal; exit 0\' USR1',
        'trap \'echo "halt:TERM" > /out/signal; exit 0\' TERM',
        'echo "uid=$(id -u) gid=$(id -g) cwd=$(pwd) foo=$FOO term=$TERM" > /out/result',
        'sleep 1000 &',
        'wait $!',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    await writeFile(join(rootfs, 'exit3.sh'), '#!/bin/sh\necho "printing before exit"\necho done > /out/result\nexit 3\n', { mode: 0o755 });
    plainTemplate = join(storage.path, 'template/cache/busybox.tar.zst');
    await packPlainTemplate(rootfs, plainTemplate);
    ociTemplate = join(storage.path, 'template/cache/busybox-oci.tar');
    await packOciArchive(ociTemplate, {
      layers: [{ dir: rootfs, compression: 'gzip' }],
      config: { Entrypoint: ['/bin/sh'], Cmd: ['/report.sh'], Env: ['FOO=from-image', 'PATH=/bin'], User: 'app', WorkingDir: '/home/app', StopSignal: 'SIGUSR1' },
    });
  });

  after(async () => {
    for (const vmid of started) {
      try {
        await stopCt(vmid, { node }, { mode: 'kill' });
      } catch (err) {
        process.stderr.write(`cleanup of CT ${vmid}: ${(err as Error).message}\n`);
      }
    }
    for (const m of monitors) m.kill('SIGTERM');
    if (root !== '') {
      for (const pid of await monitordPids(node.lxcPath)) process.kill(pid, 'SIGTERM');
      await unmountTree(join(root, 'lxc'));
      await rm(root, { recursive: true, force: true });
    }
  });

  for (const unprivileged of [false, true]) {
    const kind = unprivileged ? 'unprivileged' : 'privileged';
    it(`runs a ${kind} busybox CT from a plain template with env, cwd and uid; exec, push, pull, kill`, async () => {
      const { vmid, conf, out } = await createCt(plainTemplate, {
        unprivileged,
        sizeGiB: unprivileged ? 0.125 : 0,
        props: { entrypoint: '/bin/sh /report.sh', env: 'FOO=bar' },
        lxc: [['lxc.init.cwd', '/home/app'], ['lxc.init.uid', '1000'], ['lxc.init.gid', '1000']],
      });
      await start(vmid, conf);
      const status = await ctStatus(vmid, { node });
      assert.equal(status.running, true);
      assert.ok(status.pid !== undefined && status.pid > 1);
      const result = await waitFor('the entrypoint report', 60_000, async () => {
        try {
          const text = await readFile(join(out, 'result'), 'utf8');
          return text.endsWith('\n') ? text : undefined;
        } catch {
          return undefined;
        }
      });
      assert.equal(result, 'uid=1000 gid=1000 cwd=/home/app foo=bar term=linux\n');
      assert.ok(log.some((l) => l.startsWith(`${vmid}: `) && /no network/.test(l)), 'the start log says there is no network');

      assert.equal(await execInCt(vmid, ['/bin/sh', '-c', 'exit 7'], { node }), 7);
      assert.equal(await execInCt(vmid, ['/bin/sh', '-c', 'kill -9 $$'], { node }), 137);
      process.env.PVE_SIM_LEAK_CHECK = 'leaked';
      try {
        assert.equal(await execInCt(vmid, ['/bin/sh', '-c', 'test -z "$PVE_SIM_LEAK_CHECK"'], { node }), 0, '--clear-env by default');
        assert.equal(await execInCt(vmid, ['/bin/sh', '-c', 'test "$PVE_SIM_LEAK_CHECK" = leaked'], { node }, { keepEnv: true }), 0, '--keep-env');
      } finally {
        delete process.env.PVE_SIM_LEAK_CHECK;
      }

      const hostFile = join(root, `push-${vmid}`);
      await writeFile(hostFile, 'pushed');
      await pushFile(vmid, { node }, hostFile, '/tmp/pushed', { user: 1000, group: 1000, perms: 0o600 });
      assert.equal(await execInCt(vmid, ['/bin/sh', '-c', 'test "$(stat -c %u:%g:%a /tmp/pushed)" = 1000:1000:600'], { node }), 0);
      await pullFile(vmid, { node }, '/etc/passwd', join(root, `pulled-${vmid}`));
      assert.match(await readFile(join(root, `pulled-${vmid}`), 'utf8'), /^app:x:1000:1000:/m);

      await stopCt(vmid, { node }, { mode: 'kill' });
      const volumeFile = unprivileged ? resolveVolumeId([storage], conf.props.rootfs!.split(',')[0]!) : undefined;
      await assertGone(vmid, volumeFile);
      assert.equal(status.pid !== undefined && (await readFile(`/proc/${status.pid}/status`, 'utf8').then(() => true, () => false)), false, 'init process is gone');
      await assert.rejects(execInCt(vmid, ['true'], { node }), /^Error: container '\d+' not running!$/);
      await assert.rejects(pushFile(vmid, { node }, hostFile, '/tmp/x'), /can only push files to a running CT/);
    });
  }

  it('runs an unprivileged CT from an OCI archive; shutdown sends the image StopSignal', async () => {
    const { vmid, conf, out } = await createCt(ociTemplate, { unprivileged: true, sizeGiB: 0 });
    assert.equal(conf.props.entrypoint, '/bin/sh /report.sh');
    await start(vmid, conf);
    const result = await waitFor('the entrypoint report', 60_000, async () => {
      const text = await readFile(join(out, 'result'), 'utf8').catch(() => '');
      return text.endsWith('\n') ? text : undefined;
    });
    assert.equal(result, 'uid=1000 gid=1000 cwd=/home/app foo=from-image term=linux\n');
    // The rootfs is shifted: the CT's root-owned files belong to host uid 100000.
    const ctPid = (await ctStatus(vmid, { node })).pid;
    assert.ok(ctPid !== undefined);
    const uidMap = (await readFile(`/proc/${ctPid}/uid_map`, 'utf8')).trim().split(/\s+/);
    assert.deepEqual(uidMap, ['0', '100000', '65536']);
    await stopCt(vmid, { node }, { mode: 'shutdown', timeout: 20 });
    assert.equal(await readFile(join(out, 'signal'), 'utf8'), 'halt:USR1\n', 'lxc.signal.halt from StopSignal reached init');
    await assertGone(vmid);
  });

  it('shutdown fails after the timeout when init ignores the halt signal, and forceStop kills', async () => {
    const { vmid, conf, out } = await createCt(plainTemplate, {
      unprivileged: true,
      sizeGiB: 0,
      props: { entrypoint: '/bin/sh /report.sh' },
      lxc: [['lxc.signal.halt', 'SIGUSR2']],
    });
    await start(vmid, conf);
    await waitFor('the entrypoint report', 60_000, async () => ((await readFile(join(out, 'result'), 'utf8').catch(() => '')).endsWith('\n') ? true : undefined));
    await assert.rejects(stopCt(vmid, { node }, { mode: 'shutdown', timeout: 1 }), new RegExp(`shutdown of CT ${vmid} timed out after 1 seconds`));
    assert.equal((await ctStatus(vmid, { node })).running, true, 'still running without forceStop');
    await stopCt(vmid, { node }, { mode: 'shutdown', timeout: 1, forceStop: true });
    await assertGone(vmid);
    await assert.rejects(readFile(join(out, 'signal')), { code: 'ENOENT' });
  });

  it('reports the exit status on lxc-monitor and unmounts by itself when the CT ends', async () => {
    const { vmid, conf, out } = await createCt(plainTemplate, { unprivileged: false, sizeGiB: 0.125, props: { entrypoint: '/bin/sh /exit3.sh' } });
    let monitorOutput = '';
    const monitor = spawn('lxc-monitor', ['-n', `^${vmid}$`, '-P', node.lxcPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    monitors.push(monitor);
    monitor.stdout?.on('data', (chunk: Buffer) => {
      monitorOutput += chunk.toString();
    });
    // lxc-monitor sees the start only once lxc-monitord has accepted its connection.
    await waitFor('lxc-monitord to accept lxc-monitor', 60_000, async () => (monitor.pid !== undefined && monitordAccepted(monitor.pid) ? true : undefined));
    await start(vmid, conf);
    await waitFor('the exit status on lxc-monitor', 60_000, async () => (monitorOutput.includes(`'${vmid}' exited with status [3]`) ? true : undefined));
    await waitFor('STOPPED on lxc-monitor', 60_000, async () => (monitorOutput.includes(`'${vmid}' changed state to [STOPPED]`) ? true : undefined));
    assert.equal(await readFile(join(out, 'result'), 'utf8'), 'done\n');
    const volumeFile = resolveVolumeId([storage], conf.props.rootfs!.split(',')[0]!);
    await waitFor('the post-stop hook to unmount', 60_000, async () => {
      const mounts = await readFile('/proc/mounts', 'utf8');
      return mounts.includes(join(node.lxcPath, String(vmid))) ? undefined : true;
    });
    // The kernel frees an auto-clear loop device shortly after the last unmount.
    await waitFor('the loop device to be released', 60_000, async () => ((await loopDevicesFor(volumeFile)).length === 0 ? true : undefined));
    await stopCt(vmid, { node }, { mode: 'kill' });
    await assertGone(vmid, volumeFile);
  });

  it('fails a start LXC cannot complete with the stderr content and Proxmox message, leaving nothing mounted', async () => {
    const { vmid, conf } = await createCt(plainTemplate, {
      unprivileged: false,
      sizeGiB: 0,
      props: { entrypoint: '/bin/sh /report.sh' },
      lxc: [['lxc.mount.entry', '/nonexistent-proxrun-source mnt none bind,create=dir 0 0']],
    });
    await assert.rejects(start(vmid, conf), (err: Error) => {
      assert.match(err.message, new RegExp(`startup for container '${vmid}' failed$`));
      assert.match(err.message, /lxc-start/);
      return true;
    });
    await assertGone(vmid);
  });

  it('refuses a missing rootfs with the field named', async () => {
    nextVmid += 1;
    await assert.rejects(startCt({ props: {}, lxc: [] }, context(nextVmid)), /^Error: rootfs: /);
  });
});

