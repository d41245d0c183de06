/**
 * The proxmox-lxc backend: each bundle becomes a Proxmox LXC container whose
 * app is run, watched and signalled through the per-container monitor
 * (docs/monitor-design.md). Proxmox is reached through PveOps; LXC facts
 * (init pid, cgroup) are read locally, since proxrun runs on the node.
 */
import { statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { hostIds, PROXMOX_DEFAULT_ID_MAP, readExitStatus, releaseStart } from '../../monitor/index.js';
import type { Problem } from '../../oci/problems.js';
import type { Spec } from '../../oci/spec.js';
import type { Backend, BackendContext, BackendStatus, CreateRequest, ExecRequest } from '../../runtime/backend.js';
import { errNotPaused, errNotRunning, errUnsupported, RuntimeError } from '../../runtime/errors.js';
import { logWarning } from '../../runtime/log.js';
import type { ContainerRecord } from '../../runtime/state-store.js';
import { loadContainerData, saveProgress, startedMarker, type LxcContainerData } from './container-data.js';
import { containerStatus } from './container-status.js';
import { createContainer } from './create-container.js';
import type { TranslateResult } from './translate/ct-plan.js';
import { destroyContainer } from './destroy-container.js';
import { EXEC_RUNTIME_FAILURE, execAttached, execDetached, handStdioTo } from './exec/exec.js';
import { execCommand } from './exec/exec-command.js';
import { resolveExecProcess } from './exec/exec-process.js';
import { hookStateJson } from './hook-state.js';
import { pidInOwnNamespace, runStartContainerHooks, startContainerHooksEntry, startContainerHooksOf } from './container-hooks.js';
import { SUPPORTED_MOUNT_OPTIONS } from './translate/translate-mounts.js';
import { SECCOMP_ACTIONS, SECCOMP_ARCHES, SECCOMP_FLAGS, SECCOMP_OPERATORS } from './translate/translate-seccomp.js';
import { LINUX_CAPABILITIES } from './translate/linux-capabilities.js';
import { runHooks } from '../shared/hooks.js';
import { cgroupDirOf, cgroupPids, initPid } from './lxc-local.js';
import { signalMonitor } from './monitor/monitor-process.js';
import { openPveOps } from './open-pve-ops.js';
import { freezeCt, thawCt } from './pause.js';
import { applyOomScoreAdj, processOptionsEntry, processOptionsOf } from './process-options.js';
import { resourcesToCtParams } from './translate/update-resources.js';
import { translateSpec } from './translate/translate.js';
import { hostSecurity } from './host-security.js';
import { printPidList } from '../shared/ps-output.js';
import { resolveSettings, type LxcBackendSettings } from './settings.js';

const SIGKILL = 9;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** How often `run` without --detach looks for the exit status the monitor writes. */
const WAIT_POLL_MS = 50;

export function createProxmoxLxcBackend(): Backend {
  return new ProxmoxLxcBackend();
}

function settingsOrThrow(ctx: BackendContext): LxcBackendSettings {
  const { settings, problems } = resolveSettings(ctx.config);
  if (settings === undefined) throw new RuntimeError('InvalidConfig', problems.join('; '));
  return settings;
}

/** What each absolute mount source is on this node, for the pure translator (a file bind needs `create=file`). */
function sourceKindsOf(spec: Spec): Record<string, 'file' | 'dir'> {
  const kinds: Record<string, 'file' | 'dir'> = {};
  for (const mount of spec.mounts ?? []) {
    const source = mount.source;
    if (source === undefined || !source.startsWith('/') || kinds[source] !== undefined) continue;
    try {
      kinds[source] = statSync(source).isDirectory() ? 'dir' : 'file';
    } catch {
      // missing: guessed from the destination, and LXC names it at start
    }
  }
  return kinds;
}

function translate(spec: Spec, id: string, ctx: BackendContext, settings: LxcBackendSettings | undefined): TranslateResult {
  return translateSpec(spec, { containerId: id, lenient: ctx.config.lenient === true, storage: settings?.storage ?? 'local', hostSecurity: hostSecurity(), sourceKinds: sourceKindsOf(spec) });
}

class ProxmoxLxcBackend implements Backend {
  readonly name = 'proxmox-lxc' as const;

  async check(spec: Spec, ctx: BackendContext): Promise<Problem[]> {
    const { settings, problems: configProblems } = resolveSettings(ctx.config);
    const problems: Problem[] = configProblems.map((message) => ({ path: '', message }));
    problems.push(...translate(spec, 'check', ctx, settings).problems);
    return problems;
  }

  async create(req: CreateRequest, ctx: BackendContext): Promise<Record<string, unknown>> {
    const settings = settingsOrThrow(ctx);
    if (req.consoleSocket !== undefined || req.spec.process?.terminal === true) {
      throw errUnsupported('proxmox-lxc: terminal mode (process.terminal, --console-socket) is not supported: no pty relay yet; run without -t');
    }
    if (req.preserveFds > 0) throw errUnsupported('proxmox-lxc: --preserve-fds is not supported (the app runs in a Proxmox container, not as a child)');
    const { plan, problems } = translate(req.spec, req.record.id, ctx, settings);
    if (plan === undefined) throw new RuntimeError('InvalidConfig', problems.map((p) => `config.json: ${p.path}: ${p.message}`).join('; '));
    for (const warning of plan.warnings) await logWarning(warning);
    try {
      const data = await createContainer({ req, plan, settings, ops: openPveOps(ctx.config), containerDir: ctx.containerDir });
      return { ...data, ...processOptionsEntry(plan), ...startContainerHooksEntry(req.spec) };
    } catch (err) {
      throw new RuntimeError('Backend', `proxmox-lxc create: ${(err as Error).message}`);
    }
  }

  private data(record: ContainerRecord, ctx: BackendContext): LxcContainerData {
    return loadContainerData(record.backendData, ctx.containerDir);
  }

  async start(record: ContainerRecord, ctx: BackendContext): Promise<void> {
    const settings = settingsOrThrow(ctx);
    const data = this.data(record, ctx);
    const { status, pid } = await containerStatus(data, settings.lxcPath, ctx.containerDir);
    if (status === 'stopped') throw new RuntimeError('Stopped', 'cannot start a container that has stopped');
    if (status !== 'created') throw new RuntimeError('Running', 'cannot start an already running container');
    const options = processOptionsOf(record.backendData);
    try {
      // The init waits at its gate: what it sets now, the app inherits.
      if (options.oomScoreAdj !== undefined) await applyOomScoreAdj(pid, options.oomScoreAdj);
      await this.startContainerHooks(record, data, pid, settings, ctx);
      await releaseStart(data.monitorDir ?? '');
    } catch (err) {
      throw new RuntimeError('Backend', `proxmox-lxc start: ${(err as Error).message}`);
    }
    await writeFile(startedMarker(ctx.containerDir), '', { mode: 0o600 });
    const state = hookStateJson(record, 'running', pid, data.vmid, data.node);
    await runHooks('poststart', data.hooks?.poststart, state).catch((err: Error) => logWarning(err.message));
  }

  /**
   * startContainer hooks, inside the CT while the app is held. Their state pid is the init's as the
   * CT sees it (1). One that fails or times out stops the CT, as runc's init ends: the app never runs.
   */
  private async startContainerHooks(record: ContainerRecord, data: LxcContainerData, pid: number, settings: LxcBackendSettings, ctx: BackendContext): Promise<void> {
    const hooks = startContainerHooksOf(record.backendData);
    if (hooks.length === 0 || data.vmid === undefined) return;
    const state = hookStateJson(record, 'created', await pidInOwnNamespace(pid), data.vmid, data.node);
    try {
      await runStartContainerHooks(hooks, { lxcPath: settings.lxcPath, vmid: data.vmid }, state);
    } catch (err) {
      await openPveOps(ctx.config).stopCt(data.node ?? settings.node, data.vmid).catch((stopErr: Error) => logWarning(`stopping CT ${data.vmid ?? ''} after a failed startContainer hook: ${stopErr.message}`));
      throw err;
    }
  }

  async status(record: ContainerRecord, ctx: BackendContext): Promise<BackendStatus> {
    const settings = settingsOrThrow(ctx);
    return containerStatus(this.data(record, ctx), settings.lxcPath, ctx.containerDir);
  }

  /** The app's exit status, once the monitor has recorded it (137 when the monitor was killed before it could). */
  async wait(record: ContainerRecord, ctx: BackendContext): Promise<number> {
    const settings = settingsOrThrow(ctx);
    const data = this.data(record, ctx);
    const monitorDir = data.monitorDir;
    if (monitorDir === undefined) throw errNotRunning();
    for (;;) {
      const recorded = await readExitStatus(monitorDir);
      if (recorded !== undefined) return recorded;
      if ((await containerStatus(data, settings.lxcPath, ctx.containerDir)).status === 'stopped') return (await readExitStatus(monitorDir)) ?? 137;
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    }
  }

  async kill(record: ContainerRecord, signal: number, all: boolean, ctx: BackendContext): Promise<void> {
    const settings = settingsOrThrow(ctx);
    const data = this.data(record, ctx);
    // SIGKILL cannot be trapped, so the monitor could not forward it: it goes to every process of
    // the CT. The init dies without reporting, and the monitor records 137 and exits with it.
    if (all || signal === SIGKILL) {
      const pid = data.vmid === undefined ? undefined : await initPid(settings.lxcPath, data.vmid);
      const cgroup = pid === undefined ? undefined : await cgroupDirOf(pid);
      const members = cgroup === undefined ? [] : await cgroupPids(cgroup);
      if (members.length === 0 && !all) throw errNotRunning();
      for (const member of members) {
        try {
          process.kill(member, signal);
        } catch {
          // ended meanwhile
        }
      }
      return;
    }
    if (data.monitorPid === undefined || data.monitorDir === undefined || !(await signalMonitor(data.monitorPid, data.monitorDir, signal))) {
      throw errNotRunning();
    }
  }

  async delete(record: ContainerRecord, _force: boolean, ctx: BackendContext): Promise<void> {
    const data = this.data(record, ctx);
    // A create that failed before making anything leaves nothing to destroy: no Proxmox client is
    // needed (it may be the very thing that failed, e.g. an unreadable token file).
    const made = [data.vmid, data.templateVolid, data.rootfsVolid, data.monitorDir, data.monitorPid].some((v) => v !== undefined);
    if (made) {
      const settings = settingsOrThrow(ctx);
      try {
        await destroyContainer(data, settings, openPveOps(ctx.config));
      } catch (err) {
        throw new RuntimeError('Backend', `proxmox-lxc delete: ${(err as Error).message}`);
      }
    }
    saveProgress(ctx.containerDir, {});
    if ((data.hooks?.poststop.length ?? 0) > 0) {
      const state = hookStateJson(record, 'stopped', 0, data.vmid, data.node);
      await runHooks('poststop', data.hooks?.poststop, state).catch((err: Error) => logWarning(err.message));
    }
  }

  async ps(record: ContainerRecord, format: 'table' | 'json', _psArgs: string[], ctx: BackendContext): Promise<void> {
    const settings = settingsOrThrow(ctx);
    const data = this.data(record, ctx);
    const pid = data.vmid === undefined ? undefined : await initPid(settings.lxcPath, data.vmid);
    const cgroup = pid === undefined ? undefined : await cgroupDirOf(pid);
    const pids = cgroup === undefined ? [] : await cgroupPids(cgroup);
    printPidList(format, pids);
  }

  async exec(record: ContainerRecord, req: ExecRequest, ctx: BackendContext): Promise<number> {
    // The --process file first: the caller deletes it as soon as proxrun returns.
    const proc = resolveExecProcess(req, record.bundle);
    const settings = settingsOrThrow(ctx);
    const data = this.data(record, ctx);
    const { status } = await containerStatus(data, settings.lxcPath, ctx.containerDir);
    if (status !== 'running' || data.vmid === undefined) throw new RuntimeError('NotRunning', 'container not running', EXEC_RUNTIME_FAILURE);
    const options = processOptionsOf(record.backendData);
    const command = execCommand(settings.lxcPath, data.vmid, proc, options, process.env.PATH ?? DEFAULT_PATH);
    // A uid outside the CT's id map has no host uid: the launcher's setuid refuses it.
    try {
      handStdioTo(hostIds(proc.uid, proc.gid, options.unprivileged === true ? PROXMOX_DEFAULT_ID_MAP : undefined).uid);
    } catch {
      // left to the launcher
    }
    if (!req.detach) return execAttached(command);
    await execDetached(command, req.pidFile);
    return 0;
  }

  async pause(record: ContainerRecord, ctx: BackendContext): Promise<void> {
    const settings = settingsOrThrow(ctx);
    const data = this.data(record, ctx);
    const { status } = await containerStatus(data, settings.lxcPath, ctx.containerDir);
    if (status !== 'running' || data.vmid === undefined) throw errNotRunning();
    try {
      await freezeCt(settings.lxcPath, data.vmid);
    } catch (err) {
      throw new RuntimeError('Backend', `proxmox-lxc pause: ${(err as Error).message}`);
    }
  }

  async resume(record: ContainerRecord, ctx: BackendContext): Promise<void> {
    const settings = settingsOrThrow(ctx);
    const data = this.data(record, ctx);
    const { status } = await containerStatus(data, settings.lxcPath, ctx.containerDir);
    if (status !== 'paused' || data.vmid === undefined) throw errNotPaused();
    try {
      await thawCt(settings.lxcPath, data.vmid);
    } catch (err) {
      throw new RuntimeError('Backend', `proxmox-lxc resume: ${(err as Error).message}`);
    }
  }

  async update(record: ContainerRecord, resources: Buffer, ctx: BackendContext): Promise<void> {
    const params = resourcesToCtParams(resources);
    const settings = settingsOrThrow(ctx);
    const data = this.data(record, ctx);
    if (data.vmid === undefined) throw errNotRunning();
    if (Object.keys(params).length === 0) return;
    try {
      await openPveOps(ctx.config).setCtConfig(data.node ?? settings.node, data.vmid, params);
    } catch (err) {
      throw new RuntimeError('Backend', `proxmox-lxc update: ${(err as Error).message}`);
    }
  }

  /**
   * Fixed at build time, as features.md asks: the hooks this backend runs (createContainer and
   * startContainer inside the CT), the capabilities and the seccomp actions, operators,
   * architectures and flags the in-CT launcher applies (SCMP_ACT_NOTIFY is refused).
   */
  async features(_ctx: BackendContext): Promise<Record<string, unknown> | null> {
    const sorted = (names: Iterable<string>): string[] => [...names].sort();
    return {
      ociVersionMin: '1.0.0',
      ociVersionMax: '1.3.0',
      hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
      mountOptions: [...SUPPORTED_MOUNT_OPTIONS],
      linux: {
        namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup', 'user'],
        capabilities: [...LINUX_CAPABILITIES],
        seccomp: {
          enabled: true,
          actions: sorted(Object.keys(SECCOMP_ACTIONS)),
          operators: sorted(Object.keys(SECCOMP_OPERATORS)),
          archs: sorted(Object.keys(SECCOMP_ARCHES)),
          knownFlags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
          supportedFlags: sorted(Object.keys(SECCOMP_FLAGS)),
        },
        apparmor: { enabled: true },
      },
    };
  }
}
