/**
 * The proxmox-vm backend: each bundle becomes a Proxmox VM that boots the guest kernel with
 * proxrun's initramfs straight into the bundle's rootfs (docs/proxmox-vm.md). The VM is started
 * at create and waits at the guest's start gate; a per-VM monitor process (the pid in the pid
 * file) holds the guest's virtio-console ports, relays output, forwards signals and exits with the
 * payload's status. Proxmox is reached through `qm`/`pvesh` on this node.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createProxmoxClient } from '../../proxmox/index.js';
import { CliQemuClient, type QemuClient } from '../../proxmox/qemu.js';
import type { Problem } from '../../oci/problems.js';
import type { Spec } from '../../oci/spec.js';
import type { Backend, BackendContext, BackendStatus, CreateRequest, ExecRequest } from '../../runtime/backend.js';
import { errNotRunning, errUnsupported, RuntimeError } from '../../runtime/errors.js';
import { logWarning } from '../../runtime/log.js';
import type { ContainerRecord } from '../../runtime/state-store.js';
import { createVm } from './create-vm.js';
import { destroyVm } from './destroy-vm.js';
import { sendMonitorCommand } from './monitor/monitor-client.js';
import { isVmMonitor } from './monitor/monitor-spawn.js';
import { exitStatusFile, monitorErrorFile } from './monitor/vm-dir.js';
import { resolveVmSettings, type VmBackendSettings } from './settings.js';
import { loadVmData, saveProgress, startedMarker, type VmContainerData } from './vm-data.js';
import { planVm, type VmPlanResult } from './translate/vm-plan.js';
import { vmStatus } from './vm-status.js';
import { hasVirtiofsd } from './virtiofsd.js';
import { describeSource } from './bind-source.js';
import { execRefused } from './exec/exec.js';
import { printPidList } from '../shared/ps-output.js';

/** How often `run` without --detach looks for the exit status the monitor writes. */
const WAIT_POLL_MS = 100;

declare const __PROXRUN_VERSION__: string;
declare const __PROXRUN_COMMIT__: string;

const SIGKILL = 9;

export function createProxmoxVmBackend(): Backend {
  return new ProxmoxVmBackend();
}

function proxrunVersion(): string {
  const version = typeof __PROXRUN_VERSION__ === 'string' ? __PROXRUN_VERSION__ : 'dev';
  const commit = typeof __PROXRUN_COMMIT__ === 'string' ? __PROXRUN_COMMIT__ : 'source';
  return `${version}+${commit}`;
}

function settingsOrThrow(ctx: BackendContext): VmBackendSettings {
  const { settings, problems } = resolveVmSettings(ctx.config);
  if (settings === undefined) throw new RuntimeError('InvalidConfig', problems.join('; '));
  return settings;
}

function plan(spec: Spec, ctx: BackendContext, settings: VmBackendSettings | undefined): VmPlanResult {
  return planVm(spec, {
    lenient: ctx.config.lenient === true,
    defaultMemoryMiB: settings?.defaultMemoryMiB ?? 256,
    defaultCores: settings?.defaultCores ?? 1,
    virtiofsd: hasVirtiofsd(),
    describeSource,
  });
}

function qemuClient(settings: VmBackendSettings): QemuClient {
  return new CliQemuClient({ node: settings.node, cliPath: settings.cliPath, timeoutSeconds: settings.timeoutSeconds });
}

class ProxmoxVmBackend implements Backend {
  readonly name = 'proxmox-vm' as const;

  async check(spec: Spec, ctx: BackendContext): Promise<Problem[]> {
    const { settings, problems: configProblems } = resolveVmSettings(ctx.config);
    const problems: Problem[] = configProblems.map((message) => ({ path: '', message }));
    problems.push(...plan(spec, ctx, settings).problems);
    return problems;
  }

  async create(req: CreateRequest, ctx: BackendContext): Promise<Record<string, unknown>> {
    const settings = settingsOrThrow(ctx);
    if (req.consoleSocket !== undefined || req.spec.process?.terminal === true) {
      throw errUnsupported('proxmox-vm: terminal mode (process.terminal, --console-socket) is not supported; run without -t');
    }
    if (req.preserveFds > 0) throw errUnsupported('proxmox-vm: --preserve-fds is not supported (the payload runs in a VM, not as a child)');
    const result = plan(req.spec, ctx, settings);
    if (result.plan === undefined) throw new RuntimeError('InvalidConfig', result.problems.map((p) => `config.json: ${p.path}: ${p.message}`).join('; '));
    for (const warning of result.plan.warnings) await logWarning(warning);
    let pve;
    try {
      pve = createProxmoxClient(ctx.config.proxmox);
    } catch (err) {
      throw new RuntimeError('InvalidConfig', (err as Error).message);
    }
    try {
      const data = await createVm({ req, plan: result.plan, settings, pve, qemu: qemuClient(settings), containerDir: ctx.containerDir, proxrunVersion: proxrunVersion() });
      return { ...data };
    } catch (err) {
      throw new RuntimeError('Backend', `proxmox-vm create: ${(err as Error).message}`);
    }
  }

  private data(record: ContainerRecord, ctx: BackendContext): VmContainerData {
    return loadVmData(record.backendData, ctx.containerDir);
  }

  async start(record: ContainerRecord, ctx: BackendContext): Promise<void> {
    const data = this.data(record, ctx);
    const { status } = await vmStatus(data, ctx.containerDir);
    if (status === 'stopped') throw new RuntimeError('Stopped', 'cannot start a container that has stopped');
    if (status !== 'created') throw new RuntimeError('Running', 'cannot start an already running container');
    try {
      await sendMonitorCommand(data.vmDir ?? '', 'start');
    } catch (err) {
      throw new RuntimeError('Backend', `proxmox-vm start: ${(err as Error).message}`);
    }
    await writeFile(startedMarker(ctx.containerDir), '', { mode: 0o600 });
  }

  async status(record: ContainerRecord, ctx: BackendContext): Promise<BackendStatus> {
    return vmStatus(this.data(record, ctx), ctx.containerDir);
  }

  /**
   * The payload's exit status, once the monitor has recorded it. A monitor that ended without one
   * failed to reach the guest (its reason is in monitor-error) or was killed (137).
   */
  async wait(record: ContainerRecord, ctx: BackendContext): Promise<number> {
    const data = this.data(record, ctx);
    const vmDir = data.vmDir;
    if (vmDir === undefined || data.monitorPid === undefined) throw errNotRunning();
    const recorded = async (): Promise<number | undefined> => {
      const text = await readFile(exitStatusFile(vmDir), 'utf8').catch(() => '');
      return /^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined;
    };
    for (;;) {
      const status = await recorded();
      if (status !== undefined) return status;
      if (!(await isVmMonitor(data.monitorPid, vmDir))) {
        const late = await recorded();
        if (late !== undefined) return late;
        const reason = (await readFile(monitorErrorFile(vmDir), 'utf8').catch(() => '')).trim();
        if (reason !== '') throw new RuntimeError('Backend', `proxmox-vm run: ${reason}`);
        return 137;
      }
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    }
  }

  async kill(record: ContainerRecord, signal: number, _all: boolean, ctx: BackendContext): Promise<void> {
    const data = this.data(record, ctx);
    if (data.vmid === undefined || data.vmDir === undefined || data.monitorPid === undefined || !(await isVmMonitor(data.monitorPid, data.vmDir))) {
      throw errNotRunning();
    }
    try {
      // SIGKILL cannot be caught in the guest either: the VM is stopped, and the monitor reports 137.
      if (signal === SIGKILL) await settingsAndStop(ctx, data);
      else await sendMonitorCommand(data.vmDir, `signal ${signal}`);
    } catch (err) {
      throw new RuntimeError('Backend', `proxmox-vm kill: ${(err as Error).message}`);
    }
  }

  async delete(record: ContainerRecord, _force: boolean, ctx: BackendContext): Promise<void> {
    const settings = settingsOrThrow(ctx);
    // A created VM runs (at the gate) and a running one is stopped by destroyVm in any case:
    // the lifecycle has already refused a plain delete of a running container.
    try {
      await destroyVm(this.data(record, ctx), qemuClient(settings), { cliPath: settings.cliPath, timeoutSeconds: settings.timeoutSeconds });
    } catch (err) {
      throw new RuntimeError('Backend', `proxmox-vm delete: ${(err as Error).message}`);
    }
    saveProgress(ctx.containerDir, {});
  }

  async ps(record: ContainerRecord, format: 'table' | 'json', _psArgs: string[], ctx: BackendContext): Promise<void> {
    // The payload's processes live in the guest kernel; on the host there is QEMU.
    const { status, pid } = await vmStatus(this.data(record, ctx), ctx.containerDir);
    const pids = status === 'stopped' ? [] : [pid];
    printPidList(format, pids);
  }

  async exec(_record: ContainerRecord, _req: ExecRequest, _ctx: BackendContext): Promise<number> {
    throw execRefused();
  }

  async pause(_record: ContainerRecord, _ctx: BackendContext): Promise<void> {
    throw errUnsupported('proxmox-vm: pause is not supported');
  }

  async resume(_record: ContainerRecord, _ctx: BackendContext): Promise<void> {
    throw errUnsupported('proxmox-vm: resume is not supported');
  }

  async update(_record: ContainerRecord, _resources: Buffer, _ctx: BackendContext): Promise<void> {
    throw errUnsupported('proxmox-vm: update is not supported (memory and cores are fixed at create)');
  }

  async features(_ctx: BackendContext): Promise<Record<string, unknown> | null> {
    return null;
  }
}

async function settingsAndStop(ctx: BackendContext, data: VmContainerData): Promise<void> {
  const settings = settingsOrThrow(ctx);
  await qemuClient(settings).stopVm(data.node ?? settings.node, data.vmid ?? 0);
}
