/**
 * The start-up and lifecycle benchmark: `npm run bench [-- --runs N] [-- --write]`.
 *
 * Every case is a real process started from here. All cases run once per round, in an order
 * shuffled anew each round, so that noise from other work on the machine falls on every case
 * alike; the report gives medians over the rounds and ratios of medians. Peak RSS comes from
 * GNU time (`/usr/bin/time -f %M`, Debian package `time`) in separate interleaved rounds, so the
 * wrapper does not add to the wall times. With `--write`, the table and the machine description
 * replace the generated part of docs/performance.md.
 *
 * Needs root (runc creates containers), runc, Debian's busybox-static and a built dist/.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchProxmox } from './bench-proxmox.js';

const repo = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
/** bin/proxrun of a snapshot of bin/ and dist/ taken at start (see main). */
let proxrun = path.join(repo, 'bin', 'proxrun');
const perfDoc = path.join(repo, 'docs', 'performance.md');
const BEGIN = '<!-- bench:begin -->';
const END = '<!-- bench:end -->';

interface Options {
  runs: number;
  rssRuns: number;
  write: boolean;
  proxmox: boolean;
  ctrRuns: number;
  deliveryRuns: number;
  fleet: number;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { runs: 30, rssRuns: 10, write: false, proxmox: true, ctrRuns: 5, deliveryRuns: 3, fleet: 20 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): number => {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${arg} needs a positive integer`);
      return n;
    };
    if (arg === '--runs') options.runs = value();
    else if (arg === '--rss-runs') options.rssRuns = value();
    else if (arg === '--write') options.write = true;
    else if (arg === '--no-proxmox') options.proxmox = false;
    else if (arg === '--ctr-runs') options.ctrRuns = value();
    else if (arg === '--delivery-runs') options.deliveryRuns = value();
    else if (arg === '--fleet') options.fleet = value();
    else throw new Error(`unknown argument ${arg} (known: --runs N, --rss-runs N, --ctr-runs N, --delivery-runs N, --fleet N, --no-proxmox, --write)`);
  }
  return options;
}

/** Where commands' stderr goes: a file, not a pipe (set in main). */
let stderrFile = '';

/**
 * Runs a command to the end with stdin and stdout on /dev/null; throws with its stderr when it
 * fails. stderr goes to a file: a created container keeps the stdio it was given until it
 * ends, and spawnSync would wait for a pipe's end until then.
 */
function run(argv: readonly string[]): void {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  const fd = fs.openSync(stderrFile, 'w');
  let result;
  try {
    result = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', fd] });
  } finally {
    fs.closeSync(fd);
  }
  if (result.error) throw result.error;
  if (result.status !== 0) {
    const stderr = fs.readFileSync(stderrFile, 'utf8').trim();
    throw new Error(`${argv.join(' ')} exited with ${result.status ?? result.signal}: ${stderr}`);
  }
}

/** Output of a command, trimmed; throws when it fails. */
function output(argv: readonly string[]): string {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('empty command');
  const result = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${argv.join(' ')} exited with ${result.status}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/** Wall time in milliseconds of each of a series of commands run one after the other. */
function timed(steps: ReadonlyArray<readonly string[]>): number[] {
  return steps.map((step) => {
    const start = process.hrtime.bigint();
    run(step);
    return Number(process.hrtime.bigint() - start) / 1e6;
  });
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

/**
 * Milliseconds a fresh Node process spends in `import()` of the precompiled validators, timed
 * inside it: the entry is a module file, as the bundled proxrun is, so the ES module loader is
 * already up when the clock starts. The generated file is imported from src/ (it needs ajv's
 * run-time helpers from node_modules), the same code the bundle carries as a chunk.
 */
function validatorImportMs(scratch: string): number {
  const entry = path.join(scratch, 'import-validators.mjs');
  if (!fs.existsSync(entry)) {
    const url = pathToFileURL(path.join(repo, 'src', 'oci', 'generated', 'validators.js')).href;
    fs.writeFileSync(entry, `const t = performance.now(); await import(${JSON.stringify(url)}); process.stdout.write(String(performance.now() - t));`);
  }
  const ms = Number(output([process.execPath, entry]));
  if (!Number.isFinite(ms)) throw new Error('bench: no time from the validator import');
  return ms;
}

/** Peak RSS in KiB of one command, from GNU time (wait4's ru_maxrss). */
function peakRssKiB(argv: readonly string[], scratch: string): number {
  const file = path.join(scratch, 'time.out');
  run(['/usr/bin/time', '-f', '%M', '-o', file, ...argv]);
  const kib = Number(fs.readFileSync(file, 'utf8').trim().split('\n').pop());
  if (!Number.isFinite(kib) || kib <= 0) throw new Error(`no peak RSS from /usr/bin/time for ${argv.join(' ')}`);
  return kib;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** A busybox bundle whose process is `true`, on the runc backend. */
function makeBundle(dir: string): string {
  const bundle = path.join(dir, 'bundle');
  const rootfs = path.join(bundle, 'rootfs');
  for (const sub of ['bin', 'proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(path.join(rootfs, sub), { recursive: true });
  fs.copyFileSync('/usr/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'true']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  run([proxrun, 'spec', '--bundle', bundle]);
  const configFile = path.join(bundle, 'config.json');
  const spec = JSON.parse(fs.readFileSync(configFile, 'utf8')) as {
    process: { terminal: boolean; args: string[] };
    annotations?: Record<string, string>;
  };
  spec.process.terminal = false;
  spec.process.args = ['/bin/true'];
  spec.annotations = { 'io.proxrun.backend': 'runc' };
  fs.writeFileSync(configFile, JSON.stringify(spec, null, 2));
  return bundle;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}

/** The machine, as docs/performance.md describes it. */
function machine(): string[] {
  const cpus = os.cpus();
  const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((line) => {
    const fields = line.split(' ');
    return { point: fields[4] ?? '', type: fields[fields.indexOf('-') + 1] ?? '' };
  });
  const v1 = mountinfo.some((m) => m.type === 'cgroup');
  const unified = mountinfo.some((m) => m.type === 'cgroup2' && m.point === '/sys/fs/cgroup/unified');
  const pure = mountinfo.some((m) => m.type === 'cgroup2' && m.point === '/sys/fs/cgroup');
  const cgroups = pure && !v1
    ? 'cgroup v2 only (unified, at /sys/fs/cgroup)'
    : v1 && unified
      ? 'hybrid: cgroup v1 controllers under /sys/fs/cgroup, cgroup v2 at /sys/fs/cgroup/unified'
      : v1
        ? 'cgroup v1 only'
        : 'unknown';
  let distro = 'unknown';
  try {
    distro = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? distro;
  } catch { /* no os-release */ }
  const version = (argv: string[]): string => {
    try {
      return firstLine(output(argv));
    } catch {
      return 'not installed';
    }
  };
  return [
    `- CPU: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown'}`,
    `- memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${distro}, kernel ${os.release()}`,
    `- Node ${process.version}`,
    `- ${version(['runc', '--version'])}; ${version(['crun', '--version'])}`,
    `- cgroups: ${cgroups}`,
    `- load average when the run began: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')} (other work shared the machine)`,
  ];
}

interface Case {
  name: string;
  steps: () => ReadonlyArray<readonly string[]>;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('bench: run as root (runc creates containers)');
  for (const file of [path.join(repo, 'dist', 'proxrun.mjs'), '/usr/bin/busybox', '/usr/bin/time']) {
    if (!fs.existsSync(file)) {
      throw new Error(`bench: ${file} is missing (npm run build; apt-get install busybox-static time)`);
    }
  }
  output(['runc', '--version']);

  const description = machine();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-bench-'));
  stderrFile = path.join(scratch, 'stderr');
  const proxrunRoot = path.join(scratch, 'proxrun-root');
  const runcRoot = path.join(scratch, 'runc-root');
  let counter = 0;
  /** Deletes every container left under both roots (the state one, or what a failed round left). */
  const cleanup = (): void => {
    const leftovers: Array<readonly string[]> = [
      ...(fs.existsSync(proxrunRoot) ? fs.readdirSync(proxrunRoot) : [])
        .filter((n) => n !== '@locks')
        .map((id) => [proxrun, '--root', proxrunRoot, 'delete', '--force', id]),
      ...(fs.existsSync(runcRoot) ? fs.readdirSync(runcRoot) : []).map((id) => ['runc', '--root', runcRoot, 'delete', '--force', id]),
    ];
    for (const argv of leftovers) {
      try {
        run(argv);
      } catch (err) {
        process.stderr.write(`bench: cleanup: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    }
    fs.rmSync(scratch, { recursive: true, force: true });
  };

  try {
    // The bundle in dist/ needs nothing from node_modules. Measuring a copy means a rebuild of the
    // checkout during the run cannot swap chunks under a running command.
    const app = path.join(scratch, 'app');
    fs.cpSync(path.join(repo, 'bin'), path.join(app, 'bin'), { recursive: true });
    fs.cpSync(path.join(repo, 'dist'), path.join(app, 'dist'), { recursive: true, filter: (src) => !src.includes(`${path.sep}pve-sim`) });
    proxrun = path.join(app, 'bin', 'proxrun');
    description.push(`- proxrun: ${output([proxrun, '--version']).split('\n').slice(0, 2).join(', ')}`);
    const bundle = makeBundle(scratch);
    const pidFile = path.join(scratch, 'pid');
    // Ids unique to this run: without linux.cgroupsPath, runc names a container's cgroups after
    // its id, so two containers of one id (in different roots) would share them.
    const tag = `bench${process.pid}`;
    const stateProxrun = `${tag}-state-proxrun`;
    const stateRunc = `${tag}-state-runc`;
    run([proxrun, '--root', proxrunRoot, 'create', '--bundle', bundle, '--pid-file', pidFile, stateProxrun]);
    run(['runc', '--root', runcRoot, 'create', '--bundle', bundle, '--pid-file', pidFile, stateRunc]);

    const lifecycle = (runtime: 'proxrun' | 'runc'): Array<readonly string[]> => {
      const id = `${tag}-${runtime}-${++counter}`;
      const base = runtime === 'proxrun' ? [proxrun, '--root', proxrunRoot] : ['runc', '--root', runcRoot];
      return [
        [...base, 'create', '--bundle', bundle, '--pid-file', path.join(scratch, `${id}.pid`), id],
        [...base, 'start', id],
        [...base, 'delete', '--force', id],
      ];
    };
    const cases: Case[] = [
      { name: 'node -e 0', steps: () => [[process.execPath, '-e', '0']] },
      { name: 'proxrun --version', steps: () => [[proxrun, '--version']] },
      { name: 'proxrun state (created, runc backend)', steps: () => [[proxrun, '--root', proxrunRoot, 'state', stateProxrun]] },
      { name: 'runc state (created)', steps: () => [['runc', '--root', runcRoot, 'state', stateRunc]] },
      { name: 'lifecycle via proxrun→runc (create, start, delete --force)', steps: () => lifecycle('proxrun') },
      { name: 'lifecycle via runc alone (create, start, delete --force)', steps: () => lifecycle('runc') },
    ];

    // Warm the page cache and any first-run work, unmeasured.
    for (let i = 0; i < 3; i++) for (const c of cases) timed(c.steps());

    const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    /** Per-command times of the multi-command cases: name -> one array per step. */
    const stepTimes = new Map<string, number[][]>();
    const importTimes: number[] = [];
    process.stderr.write(`bench: ${options.runs} interleaved rounds of ${cases.length} cases and the validator import`);
    for (let round = 0; round < options.runs; round++) {
      const importAt = Math.floor(Math.random() * (cases.length + 1));
      for (const [i, c] of shuffle([...cases]).entries()) {
        if (i === importAt) importTimes.push(validatorImportMs(scratch));
        const each = timed(c.steps());
        times.get(c.name)?.push(sum(each));
        if (each.length > 1) {
          const perStep = stepTimes.get(c.name) ?? each.map(() => []);
          each.forEach((ms, i) => perStep[i]?.push(ms));
          stepTimes.set(c.name, perStep);
        }
      }
      if (importAt === cases.length) importTimes.push(validatorImportMs(scratch));
      process.stderr.write('.');
    }
    process.stderr.write('\n');

    // Peak RSS: each proxrun command of the table, plus node -e 0 for scale.
    const rssCases: Case[] = [
      { name: 'node -e 0', steps: () => [[process.execPath, '-e', '0']] },
      { name: 'proxrun --version', steps: () => [[proxrun, '--version']] },
      { name: 'proxrun state', steps: () => [[proxrun, '--root', proxrunRoot, 'state', stateProxrun]] },
      { name: 'proxrun create / start / delete --force (largest of the three)', steps: () => lifecycle('proxrun') },
    ];
    const rss = new Map<string, number[]>(rssCases.map((c) => [c.name, []]));
    process.stderr.write(`bench: ${options.rssRuns} interleaved rounds of peak RSS`);
    for (let round = 0; round < options.rssRuns; round++) {
      for (const c of shuffle([...rssCases])) {
        rss.get(c.name)?.push(Math.max(...c.steps().map((step) => peakRssKiB(step, scratch))));
      }
      process.stderr.write('.');
    }
    process.stderr.write('\n');

    const pve = options.proxmox
      ? await benchProxmox({
        scratch,
        proxrun,
        ctrRounds: options.ctrRuns,
        deliveryRounds: options.deliveryRuns,
        fleet: options.fleet,
        log: (text) => process.stderr.write(text),
      })
      : undefined;
    if (pve !== undefined) description.push(...pve.versions);

    const med = (name: string): number => median(times.get(name) ?? []);
    const nodeMs = med('node -e 0');
    const stateMs = med('proxrun state (created, runc backend)');
    const runcStateMs = med('runc state (created)');
    const lifeProxrun = med('lifecycle via proxrun→runc (create, start, delete --force)');
    const lifeRunc = med('lifecycle via runc alone (create, start, delete --force)');
    const fmt = (ms: number): string => ms.toFixed(1);
    const lines: string[] = [];
    lines.push(`Run on ${new Date().toISOString().slice(0, 10)}, ${options.runs} rounds (wall time) and ${options.rssRuns} rounds (peak RSS), cases shuffled in every round.`);
    lines.push('');
    lines.push('Machine:');
    lines.push('');
    lines.push(...description);
    lines.push('');
    lines.push('| case | median ms | min ms | max ms | × node -e 0 |');
    lines.push('|---|---:|---:|---:|---:|');
    for (const c of cases) {
      const values = times.get(c.name) ?? [];
      lines.push(`| ${c.name} | ${fmt(median(values))} | ${fmt(Math.min(...values))} | ${fmt(Math.max(...values))} | ${(median(values) / nodeMs).toFixed(2)} |`);
    }
    lines.push('');
    lines.push('The lifecycles step by step (median ms):');
    lines.push('');
    lines.push('| lifecycle | create | start | delete --force |');
    lines.push('|---|---:|---:|---:|');
    for (const [name, perStep] of stepTimes) {
      lines.push(`| ${name.replace(/ \(create, start, delete --force\)$/, '')} | ${perStep.map((v) => fmt(median(v))).join(' | ')} |`);
    }
    lines.push('');
    lines.push(`Importing the precompiled validators (\`src/oci/generated/validators.js\`, timed inside a fresh Node process around \`import()\`, once per round): median ${importTimes.length > 0 ? fmt(median(importTimes)) : '-'} ms, min ${fmt(Math.min(...importTimes))} ms, max ${fmt(Math.max(...importTimes))} ms.`);
    lines.push('');
    lines.push('| peak RSS | median MiB | max MiB |');
    lines.push('|---|---:|---:|');
    let worstRss = 0;
    for (const c of rssCases) {
      const values = rss.get(c.name) ?? [];
      if (c.name !== 'node -e 0') worstRss = Math.max(worstRss, ...values);
      lines.push(`| ${c.name} | ${(median(values) / 1024).toFixed(1)} | ${(Math.max(...values) / 1024).toFixed(1)} |`);
    }
    lines.push('');
    const stateRatio = stateMs / nodeMs;
    // proxrun state on a runc container runs `runc state` inside it: set that part apart.
    const stateOwn = (stateMs - runcStateMs) / nodeMs;
    lines.push('Goals of issue 2:');
    lines.push('');
    lines.push(`- \`proxrun state\` within 1.3× of \`node -e 0\`: ${stateRatio.toFixed(2)}× — ${stateRatio <= 1.3 ? 'met' : 'not met'}. ` +
      `It includes a \`runc state\` child (median ${fmt(runcStateMs)} ms alone); without it, ${stateOwn.toFixed(2)}×.`);
    lines.push(`- peak RSS under 60 MiB: largest seen ${(worstRss / 1024).toFixed(1)} MiB — ${worstRss < 60 * 1024 ? 'met' : 'not met'}.`);
    lines.push(`- lifecycle: proxrun→runc takes ${(lifeProxrun / lifeRunc).toFixed(2)}× the time of runc alone, ${fmt(lifeProxrun - lifeRunc)} ms more per container (median).`);
    if (pve !== undefined) {
      lines.push('');
      lines.push(...pve.lines);
    }
    const report = lines.join('\n');
    process.stdout.write(report + '\n');

    if (options.write) {
      const doc = fs.readFileSync(perfDoc, 'utf8');
      const begin = doc.indexOf(BEGIN);
      const end = doc.indexOf(END);
      if (begin < 0 || end < begin) throw new Error(`${perfDoc} has no ${BEGIN} ... ${END} section to replace`);
      fs.writeFileSync(perfDoc, `${doc.slice(0, begin + BEGIN.length)}\n${report}\n${doc.slice(end)}`);
      process.stderr.write(`bench: wrote ${path.relative(repo, perfDoc)}\n`);
    }
  } finally {
    cleanup();
  }
}

try {
  await main();
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
}
