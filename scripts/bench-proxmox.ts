/**
 * The Proxmox part of `npm run bench`: the proxmox-lxc and proxmox-vm backends on the Proxmox VE
 * simulator (real LXC and real QEMU under it), beside runc, in one report.
 *
 * - ctr lifecycles (`ctr run --rm` of `sh -c 'echo first; echo last'`) with runc, proxmox-lxc and
 *   proxmox-vm, interleaved and shuffled per round: time to the first output line and to ctr's exit.
 *   The split comes from timing shims: the node tools (pct, pvesh, pvesm, qm) are wrapped in the
 *   bench's own bin dir (the config's cliPath points there), and so is the runtime ctr is given
 *   (it also adds `--debug`, whose `proxmox-vm create` line carries the VM's step timings).
 * - rootfs delivery of a ~200 MB tree in both modes, against `cp -a` of the same tree.
 * - memory of the monitors of 20 sleeping containers started at once, and the time to get there.
 * - memory of a running VM (QEMU and monitor).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startContainerd, type ContainerdInstance } from '../test/helpers/containerd.js';
import { makeBusyboxRootfs } from '../test/helpers/busybox-rootfs.js';
import { makeBundle } from '../test/helpers/proxrun.js';
import { pollFor } from '../test/helpers/exec.js';
import { monitorDirsOf, startPveSimEnv, type PveSimEnv } from '../test/helpers/pve-sim-env.js';
import {
  coveredMs, memoryOf, median, nowMs, pidsWithArgs, processTree, readIntervals, runOk, runStreamed, shuffle,
  writeTimingShim, type Interval,
} from './bench-measure.js';

export interface ProxmoxBenchOptions {
  readonly scratch: string;
  /** The snapshot's bin/proxrun. */
  readonly proxrun: string;
  readonly ctrRounds: number;
  readonly deliveryRounds: number;
  readonly fleet: number;
  readonly log: (text: string) => void;
}

export interface ProxmoxBenchResult {
  readonly lines: string[];
  readonly versions: string[];
}

const VMID_RANGE: readonly [number, number] = [893000, 893999];
const BACKEND = 'io.proxrun.backend';
const MB = 1e6;

/** The state letter of a process from /proc (R, S, Z, ...), or '' when it is gone. */
function processState(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

const isRunning = (pid: number): boolean => !['', 'Z', 'X'].includes(processState(pid));

const fmt = (ms: number): string => (Number.isFinite(ms) ? ms.toFixed(0) : 'n/a');
const fmtS = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : 'n/a');
const mib = (kib: number): string => (kib / 1024).toFixed(1);

function which(cmd: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench: ${cmd} is not installed (needed for the Proxmox part; --no-proxmox skips it)`);
  return r.stdout.trim();
}

function firstLineOf(argv: readonly string[]): string {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return 'unknown';
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? 'unknown' : 'not installed';
}

/** A tool interval's name for the tables: `pct start`, `pvesh create /nodes/<n>/lxc`, ... */
function toolKey(i: Interval): string {
  const words = i.args.split(' ').filter((w) => w !== '' && !w.startsWith('-'));
  const sub = words[0] ?? '';
  if (i.tool === 'pvesh') return `pvesh ${sub} ${(words[1] ?? '').replace(/\/\d+(?=\/|$)/g, '/<vmid>').replace(/\/nodes\/[^/]+/, '/nodes/<node>')}`;
  return `${i.tool} ${sub}`;
}

/** The runtime subcommand of one runtime-shim interval (create, start, kill, delete, state). */
function runtimeCommand(i: Interval): string {
  return i.args.split(' ').find((w) => ['create', 'start', 'kill', 'delete', 'state', 'ps', 'pause', 'resume', 'exec', 'update'].includes(w)) ?? 'other';
}

interface CtrSample {
  totalMs: number;
  firstMs: number;
  /** Time inside the runtime (all its invocations, union). */
  runtimeMs: number;
  /** Time inside the node tools (union; they run inside the runtime's invocations). */
  toolsMs: number;
  perCommand: Map<string, number>;
  perTool: Map<string, number>;
  /** proxrun's own time before the first output line (runtime minus tools minus the guest boot wait). */
  ownBeforeFirstMs: number;
  vmTimings: Record<string, number> | undefined;
  /** From the start of `proxrun start` to the first output line. */
  startToFirstMs: number;
}

/** Writes a tree of about 200 MB of random data in files of mixed sizes; returns its bytes. */
function writeDataTree(dir: string): number {
  const plan: Array<[count: number, size: number]> = [[2, 32 << 20], [40, 2 << 20], [480, 64 << 10], [5120, 4 << 10]];
  let bytes = 0;
  let n = 0;
  const block = randomBytes(32 << 20);
  for (const [count, size] of plan) {
    for (let i = 0; i < count; i++, n++) {
      const sub = path.join(dir, `d${Math.floor(n / 100)}`);
      if (n % 100 === 0) fs.mkdirSync(sub, { recursive: true });
      // A different slice each time, so files are not identical.
      const offset = (n * 4099) % ((32 << 20) - size + 1);
      fs.writeFileSync(path.join(sub, `f${n}`), block.subarray(offset, offset + size));
      bytes += size;
    }
  }
  return bytes;
}

export async function benchProxmox(options: ProxmoxBenchOptions): Promise<ProxmoxBenchResult> {
  const { scratch, proxrun, log } = options;
  for (const cmd of ['containerd', 'ctr', 'containerd-shim-runc-v2', 'lxc-start', 'qemu-system-x86_64', 'mke2fs']) which(cmd);
  const runcPath = which('runc');
  const versions = [
    `- ${firstLineOf(['lxc-start', '--version']).replace(/^/, 'LXC ')}; ${firstLineOf(['qemu-system-x86_64', '--version'])}`,
    `- ${firstLineOf(['containerd', '--version'])}`,
    `- QEMU runs under TCG (software emulation): ${fs.existsSync('/dev/kvm') ? '/dev/kvm exists, but the simulator decides per its probe' : 'no /dev/kvm on this machine'}`,
  ];
  const work = path.join(scratch, 'pve');
  fs.mkdirSync(work, { recursive: true });
  const toolLog = path.join(work, 'tools.log');
  const runtimeLog = path.join(work, 'runtime.log');
  const vmDebugLog = path.join(work, 'vm-debug.log');

  log('bench: starting the Proxmox VE simulator and containerd\n');
  const sim: PveSimEnv = await startPveSimEnv({ vmidRange: VMID_RANGE, timeoutSeconds: 120 });
  const previousConfig = process.env['PROXRUN_CONFIG'];
  let containerd: ContainerdInstance | undefined;
  const lines: string[] = [];
  const proxrunRoot = path.join(work, 'proxrun-root');
  try {
    const shimBin = path.join(work, 'node-bin');
    for (const tool of fs.readdirSync(sim.nodeInfo.binDir)) {
      writeTimingShim({ dir: shimBin, name: tool, target: path.join(sim.nodeInfo.binDir, tool), logFile: toolLog });
    }
    const configFor = (delivery: 'directory' | 'archive'): string => sim.writeConfig(`bench-${delivery}.json`, { cliPath: shimBin, rootfsDelivery: delivery });
    const dirConfig = configFor('directory');
    const archiveConfig = configFor('archive');
    // The shim of a `create` keeps the debug line with the VM's step timings (the --log file goes with the bundle).
    const grabTimings = [
      'case " $* " in *" create "*)',
      '  l=""; p=""; for a in "$@"; do [ "$p" = "--log" ] && l="$a"; p="$a"; done',
      `  if [ -n "$l" ] && [ -f "$l" ]; then grep -h timingsMs "$l" >> '${vmDebugLog}'; fi ;;`,
      'esac',
    ].join('\n');
    const runtime = writeTimingShim({ dir: path.join(work, 'runtime-bin'), name: 'proxrun', target: proxrun, logFile: runtimeLog, extraArgs: ['--debug'], after: grabTimings });
    process.env['PROXRUN_CONFIG'] = dirConfig;
    const env = { ...process.env };
    containerd = await startContainerd();
    const ctr = containerd.ctr;

    const rootfs = path.join(work, 'busybox', 'rootfs');
    await makeBusyboxRootfs(rootfs);

    // ---- 1 and 4: ctr run --rm through runc, proxmox-lxc and proxmox-vm ----
    type Kind = 'runc' | 'proxmox-lxc' | 'proxmox-vm';
    const kinds: Kind[] = ['runc', 'proxmox-lxc', 'proxmox-vm'];
    let counter = 0;
    const ctrRun = async (kind: Kind): Promise<CtrSample> => {
      for (const file of [toolLog, runtimeLog, vmDebugLog]) fs.rmSync(file, { force: true });
      const id = `bench-${kind}-${process.pid}-${++counter}`;
      const argv = ctr.argv([
        'run', '--rm', '--runc-binary', kind === 'runc' ? runcPath : runtime, '--runc-root', containerd?.runtimeRoot ?? '',
        ...(kind === 'runc' ? [] : ['--annotation', `${BACKEND}=${kind}`]),
        '--rootfs', rootfs, id, '/bin/sh', '-c', 'echo first; echo last',
      ]);
      const r = await runStreamed(argv, env, 300_000);
      if (r.code !== 0 || r.stdout !== 'first\nlast\n' || r.firstLineAt === undefined) {
        throw new Error(`ctr run (${kind}) exited with ${r.code}, stdout ${JSON.stringify(r.stdout)}: ${r.stderr}\n${containerd?.log() ?? ''}`);
      }
      const rt = readIntervals(runtimeLog);
      const tools = readIntervals(toolLog);
      const perCommand = new Map<string, number>();
      for (const i of rt) perCommand.set(runtimeCommand(i), (perCommand.get(runtimeCommand(i)) ?? 0) + i.end - i.start);
      const perTool = new Map<string, number>();
      for (const i of tools) perTool.set(toolKey(i), (perTool.get(toolKey(i)) ?? 0) + i.end - i.start);
      let vmTimings: Record<string, number> | undefined;
      if (kind === 'proxmox-vm') {
        const line = fs.existsSync(vmDebugLog) ? fs.readFileSync(vmDebugLog, 'utf8').trim().split('\n').pop() : undefined;
        if (line === undefined || line === '') throw new Error('proxmox-vm: no `proxmox-vm create` debug line with timingsMs');
        vmTimings = (JSON.parse(line) as { timingsMs: Record<string, number> }).timingsMs;
      }
      const first = r.firstLineAt;
      const startCall = rt.find((i) => runtimeCommand(i) === 'start');
      return {
        totalMs: r.endedAt - r.startedAt,
        firstMs: first - r.startedAt,
        runtimeMs: coveredMs(rt),
        toolsMs: coveredMs(tools),
        perCommand,
        perTool,
        ownBeforeFirstMs: coveredMs(rt, -Infinity, first) - coveredMs(tools, -Infinity, first) - (vmTimings?.['guest boot'] ?? 0),
        vmTimings,
        startToFirstMs: startCall === undefined ? Number.NaN : first - startCall.start,
      };
    };

    log('bench: ctr warm-up round (the simulator probes KVM at its first VM start)\n');
    for (const kind of kinds) await ctrRun(kind);
    const samples = new Map<Kind, CtrSample[]>(kinds.map((k) => [k, []]));
    log(`bench: ${options.ctrRounds} interleaved rounds of ctr run --rm (runc, proxmox-lxc, proxmox-vm)`);
    for (let round = 0; round < options.ctrRounds; round++) {
      for (const kind of shuffle([...kinds])) samples.get(kind)?.push(await ctrRun(kind));
      log('.');
    }
    log('\n');

    // ---- 4b: memory of a running VM ----
    log('bench: memory of a running VM\n');
    const vmId = `bench-vm-mem-${process.pid}`;
    const started = await ctr.exec(['run', '-d', '--runc-binary', runtime, '--runc-root', containerd.runtimeRoot, '--annotation', `${BACKEND}=proxmox-vm`, '--rootfs', rootfs, vmId, '/bin/sleep', '1000'], 300_000);
    if (started.exitCode !== 0) throw new Error(`ctr run -d (proxmox-vm) failed: ${started.stderr}`);
    const vmTask = await ctr.waitForTaskStatus(vmId, 'RUNNING', 120_000);
    const vmMonitor = memoryOf(processTree(vmTask.pid));
    const qemuPids = pidsWithArgs(['qemu-system', sim.root]);
    if (qemuPids.length !== 1) throw new Error(`expected one QEMU process of the simulator, found ${qemuPids.length}`);
    const qemu = memoryOf(qemuPids);
    const killed = await ctr.taskKill(vmId, { signal: 'SIGKILL' });
    if (killed.exitCode !== 0) throw new Error(`ctr task kill failed: ${killed.stderr}`);
    const vmExit = await ctr.waitForExit(vmId, { timeoutMs: 120_000 });
    if ((await ctr.taskDelete(vmId)).exitCode !== 0 || (await ctr.containerRm(vmId)).exitCode !== 0) throw new Error('could not delete the VM task');

    // ---- 2: rootfs delivery ----
    log('bench: writing a ~200 MB rootfs\n');
    const bigRootfs = path.join(work, 'big', 'rootfs');
    await makeBusyboxRootfs(bigRootfs);
    const dataBytes = writeDataTree(path.join(bigRootfs, 'data'));
    const bundleOf = async (name: string, root: string, args: string[]): Promise<string> =>
      makeBundle(path.join(work, name), {
        args,
        edit: (config) => {
          const r = config['root'] as Record<string, unknown>;
          r['path'] = root;
          r['readonly'] = false;
        },
      });
    const bigBundle = await bundleOf('bundle-big', bigRootfs, ['/bin/true']);
    const smallBundle = await bundleOf('bundle-small', rootfs, ['/bin/true']);
    const out = path.join(work, 'out');
    fs.mkdirSync(out, { recursive: true });
    type Delivery = 'cp -a' | 'directory, 200 MB' | 'directory, busybox only' | 'archive, 200 MB' | 'archive, busybox only';
    const deliveries: Delivery[] = ['cp -a', 'directory, 200 MB', 'directory, busybox only', 'archive, 200 MB', 'archive, busybox only'];
    const deliveryTimes = new Map<Delivery, number[]>(deliveries.map((d) => [d, []]));
    const deliveryTools = new Map<Delivery, Array<Map<string, number>>>(deliveries.map((d) => [d, []]));
    const deliver = async (d: Delivery): Promise<void> => {
      if (d === 'cp -a') {
        const target = path.join(work, 'cp-target');
        const begin = nowMs();
        await runOk(['cp', '-a', bigRootfs, target], out, 'cp', env);
        deliveryTimes.get(d)?.push(nowMs() - begin);
        fs.rmSync(target, { recursive: true, force: true });
        return;
      }
      const denv = { ...env, PROXRUN_CONFIG: d.startsWith('archive') ? archiveConfig : dirConfig };
      const bundle = d.endsWith('200 MB') ? bigBundle : smallBundle;
      const id = `bench-deliver-${++counter}`;
      fs.rmSync(toolLog, { force: true });
      const begin = nowMs();
      await runOk([proxrun, '--root', proxrunRoot, 'create', '--bundle', bundle, '--pid-file', path.join(out, `${id}.pid`), id], out, id, denv);
      deliveryTimes.get(d)?.push(nowMs() - begin);
      const perTool = new Map<string, number>();
      for (const i of readIntervals(toolLog)) perTool.set(toolKey(i), (perTool.get(toolKey(i)) ?? 0) + i.end - i.start);
      deliveryTools.get(d)?.push(perTool);
      await runOk([proxrun, '--root', proxrunRoot, 'delete', '--force', id], out, `${id}-delete`, denv);
    };
    log(`bench: ${options.deliveryRounds} interleaved rounds of rootfs delivery`);
    for (const d of deliveries) if (d !== 'cp -a') await deliver(d); // warm-up
    for (let round = 0; round < options.deliveryRounds; round++) {
      for (const d of shuffle([...deliveries])) await deliver(d);
      log('.');
    }
    log('\n');

    // ---- 3: a fleet of sleeping containers ----
    log(`bench: ${options.fleet} proxmox-lxc containers at once\n`);
    const sleepBundle = await bundleOf('bundle-sleep', rootfs, ['/bin/sleep', '1000']);
    const vmidsBefore = new Set(sim.ctVmids());
    const fleetIds = Array.from({ length: options.fleet }, (_, i) => `bench-fleet-${i}`);
    const fleetBegin = nowMs();
    await Promise.all(fleetIds.map(async (id) => {
      await runOk([proxrun, '--root', proxrunRoot, 'create', '--bundle', sleepBundle, '--pid-file', path.join(out, `${id}.pid`), id], out, id, env, 600_000);
      await runOk([proxrun, '--root', proxrunRoot, 'start', id], out, `${id}-start`, env, 600_000);
    }));
    const fleetMs = nowMs() - fleetBegin;
    const fleetVmids = sim.ctVmids().filter((v) => !vmidsBefore.has(v));
    const running = fleetVmids.filter((v) => sim.tool('pct', ['status', String(v)]).stdout.includes('running')).length;
    const monitorPids = fleetIds.map((id) => Number(fs.readFileSync(path.join(out, `${id}.pid`), 'utf8').trim()));
    const perMonitor = monitorPids.map((pid) => memoryOf(processTree(pid)));
    const lxcStarts = memoryOf(pidsWithArgs(['lxc-start', sim.nodeInfo.lxcPath]));
    const deleteBegin = nowMs();
    await Promise.all(fleetIds.map((id) => runOk([proxrun, '--root', proxrunRoot, 'delete', '--force', id], out, `${id}-delete`, env, 600_000)));
    const deleteMs = nowMs() - deleteBegin;
    // delete --force signals the monitors; give them a bounded time to end (a zombie has ended).
    const monitorsAlive = (): number[] => monitorPids.filter(isRunning);
    await pollFor(() => (monitorsAlive().length === 0 ? true : undefined), { timeoutMs: 15_000, intervalMs: 100, description: 'the monitors to end' }).catch(() => undefined);
    const left = {
      cts: sim.ctVmids().filter((v) => v >= VMID_RANGE[0] && v <= VMID_RANGE[1]),
      lxc: sim.lxcContainers(),
      volumes: sim.volumes(),
      monitorDirs: fleetVmids.flatMap((v) => monitorDirsOf(v)),
      monitors: monitorsAlive().map((pid) => `${pid} ${processState(pid)}`),
      records: fs.readdirSync(proxrunRoot).filter((n) => n !== '@locks'),
    };
    const leftCount = Object.values(left).reduce((n, list) => n + list.length, 0);
    if (leftCount !== 0) throw new Error(`the fleet left things behind: ${JSON.stringify(left)}`);

    // ---- report ----
    const s = (kind: Kind): CtrSample[] => samples.get(kind) ?? [];
    const med = (kind: Kind, pick: (x: CtrSample) => number): number => median(s(kind).map(pick));
    lines.push('### Proxmox backends on the simulator');
    lines.push('');
    lines.push(`\`ctr run --rm\` of the busybox rootfs running \`sh -c 'echo first; echo last'\`, ${options.ctrRounds} rounds, the three runtimes shuffled in every round (after one unmeasured warm-up round). "first line" is from spawning ctr to the first whole stdout line reaching the bench; "exit" is to ctr's exit (container deleted).`);
    lines.push('');
    lines.push('| runtime | first line, median s | exit, median s | exit min–max s | × runc (exit) |');
    lines.push('|---|---:|---:|---:|---:|');
    const runcExit = med('runc', (x) => x.totalMs);
    for (const kind of kinds) {
      const totals = s(kind).map((x) => x.totalMs);
      lines.push(`| ${kind === 'runc' ? 'runc' : `proxrun → ${kind}`} | ${fmtS(med(kind, (x) => x.firstMs))} | ${fmtS(median(totals))} | ${fmtS(Math.min(...totals))}–${fmtS(Math.max(...totals))} | ${(median(totals) / runcExit).toFixed(1)} |`);
    }
    lines.push('');
    lines.push('Where a proxrun lifecycle\'s time goes (median ms per run). "inside proxrun" is the time the shim spent in proxrun calls (union of their intervals); "node tools" the time inside pct/pvesh/pvesm/qm (the simulator\'s, run through the timing shims; `pct start` includes LXC bringing the CT up with `lxc-start`, `qm start` QEMU\'s launch); "proxrun\'s own" the difference, less (VM) the wait for the QEMU boot inside create; the rest is ctr, containerd, the shim and the payload.');
    lines.push('');
    lines.push('| backend | exit | inside proxrun | node tools | waiting for the guest to boot | proxrun\'s own | ctr/containerd/shim/payload |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const kind of ['proxmox-lxc', 'proxmox-vm'] as const) {
      const boot = (x: CtrSample): number => x.vmTimings?.['guest boot'] ?? 0;
      const own = median(s(kind).map((x) => x.runtimeMs - x.toolsMs - boot(x)));
      lines.push(`| ${kind} | ${fmt(med(kind, (x) => x.totalMs))} | ${fmt(med(kind, (x) => x.runtimeMs))} | ${fmt(med(kind, (x) => x.toolsMs))} | ${kind === 'proxmox-vm' ? fmt(med(kind, boot)) : '–'} | ${fmt(own)} | ${fmt(med(kind, (x) => x.totalMs - x.runtimeMs))} |`);
    }
    lines.push('');
    const keyed = (kind: Kind, pickMap: (x: CtrSample) => Map<string, number>): Array<[string, number]> => {
      const keys = new Set(s(kind).flatMap((x) => [...pickMap(x).keys()]));
      return [...keys].sort().map((k) => [k, median(s(kind).map((x) => pickMap(x).get(k) ?? 0))]);
    };
    for (const kind of ['proxmox-lxc', 'proxmox-vm'] as const) {
      lines.push(`${kind}: proxrun calls by the shim (median ms per run, summed per command): ${keyed(kind, (x) => x.perCommand).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}.`);
      lines.push(`Node tools inside them: ${keyed(kind, (x) => x.perTool).map(([k, v]) => `\`${k}\` ${fmt(v)}`).join(', ')}.`);
      lines.push('');
    }
    // VM split
    const vmStep = (name: string): number => median(s('proxmox-vm').map((x) => x.vmTimings?.[name] ?? 0));
    const vmFirst = med('proxmox-vm', (x) => x.firstMs);
    const vmOwn = med('proxmox-vm', (x) => x.ownBeforeFirstMs);
    const guestPrep = median(s('proxmox-vm').map((x) => (x.vmTimings?.['guest kernel'] ?? 0) + (x.vmTimings?.['initramfs'] ?? 0) + (x.vmTimings?.['per-VM initrd'] ?? 0)));
    lines.push(`proxmox-vm, from \`ctr run\` to the first output line (median ms; the steps are \`proxrun create\`'s own timings from its \`--debug\` log line):`);
    lines.push('');
    lines.push('| part | median ms |');
    lines.push('|---|---:|');
    lines.push(`| guest kernel, initramfs (cached), per-VM initrd | ${fmt(guestPrep)} |`);
    lines.push(`| disk image build (\`mke2fs -d\`) | ${fmt(vmStep('disk image'))} |`);
    lines.push(`| Proxmox create (\`qm create\` with import-from, VMID allocation) | ${fmt(vmStep('create VM'))} |`);
    lines.push(`| Proxmox start (\`qm start\`) | ${fmt(vmStep('start VM'))} |`);
    lines.push(`| QEMU boot to the guest's start gate | ${fmt(vmStep('guest boot'))} |`);
    lines.push(`| monitor start, VM status, pid file | ${fmt(vmStep('start monitor') + vmStep('VM status') + vmStep('write pid file'))} |`);
    lines.push(`| payload: \`proxrun start\` called → first output line | ${fmt(med('proxmox-vm', (x) => x.startToFirstMs))} |`);
    lines.push(`| **ctr run → first output line** | **${fmt(vmFirst)}** |`);
    lines.push(`| ctr run → exit | ${fmt(med('proxmox-vm', (x) => x.totalMs))} |`);
    lines.push('');
    lines.push(`Host memory of a running VM (\`sleep 1000\` payload, 256 MiB guest): QEMU ${mib(qemu.rssKiB)} MiB RSS (${mib(qemu.pssKiB)} MiB Pss), monitor tree ${mib(vmMonitor.rssKiB)} MiB RSS (${mib(vmMonitor.pssKiB)} MiB Pss, ${vmMonitor.processes} processes); together ${mib(qemu.rssKiB + vmMonitor.rssKiB)} MiB RSS. SIGKILL through ctr ended it with ${vmExit}.`);
    lines.push('');
    const deliveryMed = (d: Delivery): number => median(deliveryTimes.get(d) ?? []);
    const dataMB = dataBytes / MB;
    const cpMs = deliveryMed('cp -a');
    lines.push(`Rootfs delivery: a tree of ${dataMB.toFixed(0)} MB of random data (2 × 32 MiB, 40 × 2 MiB, 480 × 64 KiB, 5120 × 4 KiB files) on top of the busybox rootfs; \`proxrun create\` of it in each mode, ${options.deliveryRounds} rounds shuffled with \`cp -a\` of the same tree and with \`create\` of the busybox-only bundle. The delivery's own cost is the 200 MB create minus the busybox-only create of the same mode, so the throughput is ${dataMB.toFixed(0)} MB over that difference. Page cache warm, no sync on either side.`);
    lines.push('');
    lines.push('| case | median s | min–max s | MB/s of the 200 MB | × cp -a time |');
    lines.push('|---|---:|---:|---:|---:|');
    lines.push(`| cp -a | ${fmtS(cpMs)} | ${fmtS(Math.min(...(deliveryTimes.get('cp -a') ?? [])))}–${fmtS(Math.max(...(deliveryTimes.get('cp -a') ?? [])))} | ${(dataMB / (cpMs / 1000)).toFixed(0)} | 1.0 |`);
    for (const mode of ['directory', 'archive'] as const) {
      const big = deliveryMed(`${mode}, 200 MB`);
      const small = deliveryMed(`${mode}, busybox only`);
      const all = (d: Delivery): number[] => deliveryTimes.get(d) ?? [];
      lines.push(`| create, ${mode}, busybox only | ${fmtS(small)} | ${fmtS(Math.min(...all(`${mode}, busybox only`)))}–${fmtS(Math.max(...all(`${mode}, busybox only`)))} | | |`);
      lines.push(`| create, ${mode}, 200 MB | ${fmtS(big)} | ${fmtS(Math.min(...all(`${mode}, 200 MB`)))}–${fmtS(Math.max(...all(`${mode}, 200 MB`)))} | ${(dataMB / ((big - small) / 1000)).toFixed(0)} (difference) | ${((big - small) / cpMs).toFixed(1)} |`);
    }
    lines.push('');
    for (const mode of ['directory', 'archive'] as const) {
      const maps = deliveryTools.get(`${mode}, 200 MB`) ?? [];
      const keys = [...new Set(maps.flatMap((m) => [...m.keys()]))].sort();
      lines.push(`Node tools inside a 200 MB \`create\`, ${mode} (median ms): ${keys.map((k) => `\`${k}\` ${fmt(median(maps.map((m) => m.get(k) ?? 0)))}`).join(', ')}.`);
    }
    lines.push('');
    const rss = perMonitor.map((m) => m.rssKiB);
    const pss = perMonitor.map((m) => m.pssKiB);
    lines.push(`${options.fleet} proxmox-lxc containers running \`sleep 1000\`, created and started all at once (\`proxrun create\` then \`start\` per container, all ${options.fleet} concurrently): all running after ${fmtS(fleetMs)} s (${running} of ${fleetVmids.length} CTs \`running\` per \`pct status\`); \`delete --force\` of all, concurrently, ${fmtS(deleteMs)} s; afterwards no CT, LXC container, volume, monitor folder, monitor process or state record was left.`);
    lines.push('');
    lines.push('| host memory per running container (monitor process tree) | median | max | total for all |');
    lines.push('|---|---:|---:|---:|');
    lines.push(`| sum of VmRSS, MiB | ${mib(median(rss))} | ${mib(Math.max(...rss))} | ${mib(rss.reduce((a, b) => a + b, 0))} |`);
    lines.push(`| sum of Pss, MiB | ${mib(median(pss))} | ${mib(Math.max(...pss))} | ${mib(pss.reduce((a, b) => a + b, 0))} |`);
    lines.push(`| processes | ${median(perMonitor.map((m) => m.processes))} | ${Math.max(...perMonitor.map((m) => m.processes))} | ${perMonitor.reduce((a, m) => a + m.processes, 0)} |`);
    lines.push('');
    lines.push(`LXC's own \`lxc-start\` processes (Proxmox runs one per CT with or without proxrun): ${lxcStarts.processes} processes, ${mib(lxcStarts.rssKiB)} MiB RSS in total (${mib(lxcStarts.rssKiB / Math.max(1, lxcStarts.processes))} MiB each).`);
    lines.push('');
    // goals
    const lxcOwn = median(s('proxmox-lxc').map((x) => x.runtimeMs - x.toolsMs));
    const lxcTotal = med('proxmox-lxc', (x) => x.totalMs);
    const big = {
      directory: deliveryMed('directory, 200 MB') - deliveryMed('directory, busybox only'),
      archive: deliveryMed('archive, 200 MB') - deliveryMed('archive, busybox only'),
    };
    lines.push('Goals of issues 4 and 5 (judged on the medians above):');
    lines.push('');
    lines.push(`- issue 4, lifecycle through ctr: proxmox-lxc ${fmtS(lxcTotal)} s against runc ${fmtS(runcExit)} s (${(lxcTotal / runcExit).toFixed(1)}×); proxrun's own part ${fmtS(lxcOwn)} s (${((lxcOwn / lxcTotal) * 100).toFixed(0)} %), the node tools ${fmtS(med('proxmox-lxc', (x) => x.toolsMs))} s. No numeric goal; reported.`);
    lines.push(`- issue 4, rootfs delivery of ${dataMB.toFixed(0)} MB: directory ${(dataMB / (big.directory / 1000)).toFixed(0)} MB/s (${(big.directory / cpMs).toFixed(1)}× the time of \`cp -a\`), archive ${(dataMB / (big.archive / 1000)).toFixed(0)} MB/s (${(big.archive / cpMs).toFixed(1)}×). No numeric goal; reported.`);
    lines.push(`- issue 4, host memory per running container under 16 MiB: monitor tree ${mib(median(rss))} MiB VmRSS (max ${mib(Math.max(...rss))}), ${mib(median(pss))} MiB Pss — ${Math.max(...rss) < 16 * 1024 ? 'met' : 'not met'}.`);
    lines.push(`- issue 4, ${options.fleet} containers at once: ${running} of ${options.fleet} running after ${fmtS(fleetMs)} s, monitors ${mib(rss.reduce((a, b) => a + b, 0))} MiB VmRSS in total, all deleted with nothing left — ${running === options.fleet ? 'met' : 'not met'}.`);
    lines.push(`- issue 5, first output within 8 s under TCG: ${fmtS(vmFirst)} s — ${vmFirst <= 8000 ? 'met' : 'not met'}.`);
    lines.push(`- issue 5, proxrun's own share under 20 % of it: ${fmtS(vmOwn)} s, ${((vmOwn / vmFirst) * 100).toFixed(0)} % — ${vmOwn / vmFirst < 0.2 ? 'met' : 'not met'}. (proxrun calls before the first line, less the node tools and less the wait for QEMU's boot; Node start-up of each call counts as proxrun's.)`);
    lines.push(`- issue 5, host memory per running VM: QEMU ${mib(qemu.rssKiB)} MiB + monitor ${mib(vmMonitor.rssKiB)} MiB RSS. No numeric goal; reported.`);
    return { lines, versions };
  } finally {
    if (previousConfig === undefined) delete process.env['PROXRUN_CONFIG'];
    else process.env['PROXRUN_CONFIG'] = previousConfig;
    const report = containerd === undefined ? undefined : await containerd.stop();
    const { destroyed } = await sim.stop();
    const troubles: string[] = [];
    if (report !== undefined && report.containers.length + report.processes.length + report.mounts.length > 0) troubles.push(`containerd left ${JSON.stringify(report)}`);
    if (destroyed.length > 0) troubles.push(`the simulator still had CTs ${destroyed.join(', ')}`);
    if (troubles.length > 0) {
      options.log(`bench: cleanup: ${troubles.join('; ')}\n`);
      process.exitCode = 1;
    }
  }
}
