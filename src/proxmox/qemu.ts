/**
 * The QEMU (VM) part of the Proxmox client, kept apart from the container part in client.ts:
 * `qm` on this node for task verbs (they wait for their task and exit 255 when it failed),
 * `pvesh … --output-format json` for reads and for other nodes. Only the CLI transport exists:
 * the proxmox-vm backend needs `args` (direct kernel boot, the virtio-console chardevs) and disks
 * imported from absolute paths, both of which Proxmox allows to root@pam only, never to an API
 * token (docs/proxmox-vm.md says what an API-token route would need).
 */
import { ProxmoxError, type CtStatus, type PveParams } from './client.js';
import { cliOptions, runTool, type ToolSettings } from './cli-run.js';
import { toConfig, toCtStatus } from './response-shapes.js';

/** A VM's run state as Proxmox reports it (`status/current`); `pid` is the QEMU process while running. */
export type VmStatus = CtStatus;

export interface QemuClient {
  readonly node: string;
  /** POST /nodes/{node}/qemu (`qm create`). */
  createVm(node: string, vmid: number, params: PveParams): Promise<void>;
  vmConfig(node: string, vmid: number): Promise<Record<string, unknown>>;
  vmStatus(node: string, vmid: number): Promise<VmStatus>;
  startVm(node: string, vmid: number): Promise<void>;
  /** Hard stop (QMP quit, then signals); quiet for a VM that is not running. */
  stopVm(node: string, vmid: number): Promise<void>;
  destroyVm(node: string, vmid: number, options: { purge: boolean }): Promise<void>;
}

export interface CliQemuSettings extends ToolSettings {
  node: string;
}

export class CliQemuClient implements QemuClient {
  readonly node: string;
  private readonly tools: ToolSettings;

  constructor(settings: CliQemuSettings) {
    this.node = settings.node;
    this.tools = { cliPath: settings.cliPath, timeoutSeconds: settings.timeoutSeconds };
  }

  private async pveshJson(step: string, verb: 'get' | 'create' | 'delete', apiPath: string, params: PveParams = {}): Promise<unknown> {
    const text = (await runTool(this.tools, step, 'pvesh', [verb, apiPath, ...cliOptions(params), '--output-format', 'json'])).trim();
    if (text === '') return null;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ProxmoxError(step, `pvesh printed something that is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
    }
  }

  private qm(step: string, args: readonly string[]): Promise<string> {
    return runTool(this.tools, step, 'qm', args);
  }

  private vmPath(node: string, vmid: number, rest = ''): string {
    return `/nodes/${node}/qemu/${vmid}${rest}`;
  }

  async createVm(node: string, vmid: number, params: PveParams): Promise<void> {
    const step = `create VM ${vmid}`;
    if (node === this.node) await this.qm(step, ['create', String(vmid), ...cliOptions(params)]);
    else await this.pveshJson(step, 'create', `/nodes/${node}/qemu`, { ...params, vmid });
  }

  async vmConfig(node: string, vmid: number): Promise<Record<string, unknown>> {
    const step = `config VM ${vmid}`;
    return toConfig(step, await this.pveshJson(step, 'get', this.vmPath(node, vmid, '/config')));
  }

  async vmStatus(node: string, vmid: number): Promise<VmStatus> {
    const step = `status VM ${vmid}`;
    return toCtStatus(step, await this.pveshJson(step, 'get', this.vmPath(node, vmid, '/status/current')));
  }

  private async action(node: string, vmid: number, verb: 'start' | 'stop' | 'destroy', params: PveParams = {}): Promise<void> {
    const step = `${verb} VM ${vmid}`;
    if (node === this.node) await this.qm(step, [verb, String(vmid), ...cliOptions(params)]);
    else if (verb === 'destroy') await this.pveshJson(step, 'delete', this.vmPath(node, vmid), params);
    else await this.pveshJson(step, 'create', this.vmPath(node, vmid, `/status/${verb}`), params);
  }

  startVm(node: string, vmid: number): Promise<void> {
    return this.action(node, vmid, 'start');
  }

  stopVm(node: string, vmid: number): Promise<void> {
    return this.action(node, vmid, 'stop');
  }

  destroyVm(node: string, vmid: number, options: { purge: boolean }): Promise<void> {
    return this.action(node, vmid, 'destroy', { purge: options.purge });
  }
}
