/**
 * ProxmoxClient over the node's own tools in `cliPath`: `pvesh … --output-format json` for reads,
 * `pct` and `qm` for container and VM operations on this node (the task verbs wait for their task
 * and exit 255 when it failed), `pvesh` for other nodes and directory mappings, `pvesm` for
 * volumes (`pvesm path` for where one is on this node). The tools run as the calling user, which
 * on a Proxmox node must be root. "Upload" means copying the file into the storage's own folder,
 * found with `pvesm path`: the CLI has no upload, and the file is local anyway. Every tool process
 * is reported to the tracker before it is waited for.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  ProxmoxError, type ClusterGuest, type CtStatus, type InflightCall, type ProxmoxClient, type PveParams, type RawLxcEntry, type StorageVolume, type VmStatus,
} from './client.js';
import { cliOptions, runTool, type ToolSettings } from './cli-run.js';
import { setRawLxcKeys, unlockGuestConf } from './conf-file.js';
import { runningUpids, settleCall, type TaskControl } from './inflight.js';
import { isMissingGuest } from './step.js';
import type { TaskStatusReply } from './tasks.js';
import { checkUploadName, uploadVolid, type UploadContent } from './upload-name.js';
import { toClusterGuests, toConfig, toCtStatus, toVersion, toVmid, toVolumePath, toVolumes } from './response-shapes.js';

export interface CliTransportSettings extends ToolSettings {
  node: string;
  /** The cluster file system (raw lxc keys and locks of other nodes are edited there). */
  pveDir: string;
}

type PveshVerb = 'get' | 'create' | 'set' | 'delete';

export class CliTransport implements ProxmoxClient {
  readonly transport = 'cli' as const;
  readonly node: string;
  private readonly tools: ToolSettings;
  private readonly pveDir: string;

  constructor(settings: CliTransportSettings) {
    this.node = settings.node;
    this.pveDir = settings.pveDir;
    this.tools = { cliPath: settings.cliPath, timeoutSeconds: settings.timeoutSeconds, tracker: settings.tracker };
  }

  /** `pvesh <verb> <path> [--k v…] --output-format json`, parsed. */
  private async pvesh(step: string, verb: PveshVerb, apiPath: string, params: PveParams = {}): Promise<unknown> {
    const out = await runTool(this.tools, step, 'pvesh', [verb, apiPath, ...cliOptions(params), '--output-format', 'json']);
    const text = out.trim();
    if (text === '') return null;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ProxmoxError(step, `pvesh printed something that is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
    }
  }

  private pct(step: string, args: readonly string[]): Promise<string> {
    return runTool(this.tools, step, 'pct', args);
  }

  private isLocal(node: string): boolean {
    return node === this.node;
  }

  async version(): Promise<{ version: string; release: string }> {
    return toVersion('version', await this.pvesh('version', 'get', '/version'));
  }

  async nextId(vmid?: number): Promise<number> {
    const step = vmid === undefined ? 'nextid' : `nextid ${vmid}`;
    return toVmid(step, await this.pvesh(step, 'get', '/cluster/nextid', vmid === undefined ? {} : { vmid }));
  }

  async clusterGuests(): Promise<ClusterGuest[]> {
    return toClusterGuests('cluster resources', await this.pvesh('cluster resources', 'get', '/cluster/resources', { type: 'vm' }));
  }

  async createCt(node: string, vmid: number, params: PveParams): Promise<void> {
    const step = `create CT ${vmid}`;
    const { ostemplate, ...rest } = params;
    if (this.isLocal(node) && ostemplate !== undefined) {
      await this.pct(step, ['create', String(vmid), String(ostemplate), ...cliOptions(rest)]);
    } else {
      await this.pvesh(step, 'create', `/nodes/${node}/lxc`, { ...params, vmid });
    }
  }

  async ctConfig(node: string, vmid: number): Promise<Record<string, unknown>> {
    const step = `config CT ${vmid}`;
    return toConfig(step, await this.pvesh(step, 'get', `/nodes/${node}/lxc/${vmid}/config`));
  }

  async setCtConfig(node: string, vmid: number, params: PveParams, deleteKeys: readonly string[] = []): Promise<void> {
    const step = `set config CT ${vmid}`;
    const all: PveParams = { ...params };
    if (deleteKeys.length > 0) all['delete'] = deleteKeys.join(',');
    if (this.isLocal(node)) await this.pct(step, ['set', String(vmid), ...cliOptions(all)]);
    else await this.pvesh(step, 'set', `/nodes/${node}/lxc/${vmid}/config`, all);
  }

  async ctStatus(node: string, vmid: number): Promise<CtStatus> {
    const step = `status CT ${vmid}`;
    return toCtStatus(step, await this.pvesh(step, 'get', `/nodes/${node}/lxc/${vmid}/status/current`));
  }

  /** A pct task verb locally, or the same API call through pvesh for another node. */
  private async ctAction(node: string, vmid: number, verb: 'start' | 'stop' | 'shutdown' | 'destroy', params: PveParams = {}): Promise<void> {
    const step = `${verb} CT ${vmid}`;
    if (this.isLocal(node)) {
      await this.pct(step, [verb, String(vmid), ...cliOptions(params)]);
    } else if (verb === 'destroy') {
      await this.pvesh(step, 'delete', `/nodes/${node}/lxc/${vmid}`, params);
    } else {
      await this.pvesh(step, 'create', `/nodes/${node}/lxc/${vmid}/status/${verb}`, params);
    }
  }

  startCt(node: string, vmid: number): Promise<void> {
    return this.ctAction(node, vmid, 'start');
  }

  stopCt(node: string, vmid: number): Promise<void> {
    return this.ctAction(node, vmid, 'stop');
  }

  shutdownCt(node: string, vmid: number, options: { timeout: number; forceStop: boolean }): Promise<void> {
    return this.ctAction(node, vmid, 'shutdown', { timeout: options.timeout, forceStop: options.forceStop });
  }

  destroyCt(node: string, vmid: number, options: { force: boolean; purge: boolean }): Promise<void> {
    return this.ctAction(node, vmid, 'destroy', { force: options.force, purge: options.purge });
  }

  async unlockCt(node: string, vmid: number): Promise<void> {
    if (this.isLocal(node)) await this.pct(`unlock CT ${vmid}`, ['unlock', String(vmid)]);
    else await unlockGuestConf(this.pveDir, node, 'lxc', vmid);
  }

  async setRawLxc(node: string, vmid: number, entries: readonly RawLxcEntry[], replaceKeys: readonly string[]): Promise<void> {
    await setRawLxcKeys(this.pveDir, node, vmid, entries, replaceKeys);
  }

  private qm(step: string, args: readonly string[]): Promise<string> {
    return runTool(this.tools, step, 'qm', args);
  }

  private vmPath(node: string, vmid: number, rest = ''): string {
    return `/nodes/${node}/qemu/${vmid}${rest}`;
  }

  async createVm(node: string, vmid: number, params: PveParams): Promise<void> {
    const step = `create VM ${vmid}`;
    if (this.isLocal(node)) await this.qm(step, ['create', String(vmid), ...cliOptions(params)]);
    else await this.pvesh(step, 'create', `/nodes/${node}/qemu`, { ...params, vmid });
  }

  async vmConfig(node: string, vmid: number): Promise<Record<string, unknown>> {
    const step = `config VM ${vmid}`;
    return toConfig(step, await this.pvesh(step, 'get', this.vmPath(node, vmid, '/config')));
  }

  async vmStatus(node: string, vmid: number): Promise<VmStatus> {
    const step = `status VM ${vmid}`;
    return toCtStatus(step, await this.pvesh(step, 'get', this.vmPath(node, vmid, '/status/current')));
  }

  private async vmAction(node: string, vmid: number, verb: 'start' | 'stop' | 'destroy', params: PveParams = {}): Promise<void> {
    const step = `${verb} VM ${vmid}`;
    if (this.isLocal(node)) await this.qm(step, [verb, String(vmid), ...cliOptions(params)]);
    else if (verb === 'destroy') await this.pvesh(step, 'delete', this.vmPath(node, vmid), params);
    else await this.pvesh(step, 'create', this.vmPath(node, vmid, `/status/${verb}`), params);
  }

  startVm(node: string, vmid: number): Promise<void> {
    return this.vmAction(node, vmid, 'start');
  }

  stopVm(node: string, vmid: number, options: { skiplock?: boolean } = {}): Promise<void> {
    return this.vmAction(node, vmid, 'stop', options.skiplock === true ? { skiplock: true } : {});
  }

  destroyVm(node: string, vmid: number, options: { purge: boolean; skiplock?: boolean }): Promise<void> {
    return this.vmAction(node, vmid, 'destroy', { purge: options.purge, ...(options.skiplock === true ? { skiplock: true } : {}) });
  }

  async createDirMapping(id: string, node: string, directory: string, description: string): Promise<void> {
    await this.pvesh(`create directory mapping ${id}`, 'create', '/cluster/mapping/dir', { id, map: `node=${node},path=${directory}`, description });
  }

  async deleteDirMapping(id: string): Promise<void> {
    try {
      await this.pvesh(`delete directory mapping ${id}`, 'delete', `/cluster/mapping/dir/${id}`);
    } catch (err) {
      if (!isMissingGuest(err)) throw err;
    }
  }

  async activeTasks(node: string, vmid: number): Promise<string[]> {
    return runningUpids(await this.pvesh(`tasks of ${vmid}`, 'get', `/nodes/${node}/tasks`, { vmid, source: 'active' }));
  }

  private taskControl(): TaskControl {
    return {
      timeoutSeconds: this.tools.timeoutSeconds,
      stopTask: async (node, upid) => {
        await this.pvesh(`stop task ${upid}`, 'delete', `/nodes/${node}/tasks/${upid}`);
      },
      taskStatus: async (node, upid): Promise<TaskStatusReply> => {
        const data = await this.pvesh(`task status ${upid}`, 'get', `/nodes/${node}/tasks/${upid}/status`);
        const o = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
        return { status: String(o['status'] ?? ''), ...(typeof o['exitstatus'] === 'string' ? { exitstatus: o['exitstatus'] } : {}) };
      },
    };
  }

  settle(call: InflightCall): Promise<void> {
    return settleCall(call, this.taskControl());
  }

  async uploadFile(node: string, storage: string, content: UploadContent, file: string, filename: string): Promise<string> {
    checkUploadName(content, filename);
    const step = `upload ${filename}`;
    if (!this.isLocal(node)) throw new ProxmoxError(step, `the cli transport can only store files on its own node ${this.node}, not on ${node}`);
    const volid = uploadVolid(storage, content, filename);
    const target = await this.volumePath(node, volid);
    const temp = path.join(path.dirname(target), `.${filename}.proxrun-${process.pid}.tmp`);
    try {
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.copyFile(file, temp, fs.constants.COPYFILE_FICLONE);
      await fs.chmod(temp, 0o644);
      await fs.rename(temp, target);
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw new ProxmoxError(step, `copying ${file} to ${target}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    return volid;
  }

  async storageContent(node: string, storage: string, content?: string): Promise<StorageVolume[]> {
    const step = `storage content ${storage}`;
    return toVolumes(step, await this.pvesh(step, 'get', `/nodes/${node}/storage/${storage}/content`, content === undefined ? {} : { content }));
  }

  async volumePath(node: string, volid: string): Promise<string> {
    const step = `volume path ${volid}`;
    if (!this.isLocal(node)) {
      const storage = volid.slice(0, Math.max(0, volid.indexOf(':')));
      if (storage === '') throw new ProxmoxError(step, `${volid} is not a volume id (STORAGE:VOLNAME)`);
      return toVolumePath(step, await this.pvesh(step, 'get', `/nodes/${node}/storage/${storage}/content/${encodeURIComponent(volid)}`));
    }
    const found = (await runTool(this.tools, step, 'pvesm', ['path', volid])).trim();
    if (!path.isAbsolute(found)) throw new ProxmoxError(step, `pvesm path printed no absolute path for ${volid}: ${JSON.stringify(found.slice(0, 120))}`);
    return found;
  }

  async deleteVolume(node: string, storage: string, volid: string): Promise<void> {
    const step = `delete volume ${volid}`;
    // A volume of another node's storage is reachable here only if the storage is shared, and then
    // this node's pvesm frees it as well; `node` picks nothing for the CLI.
    void node;
    if (!volid.startsWith(`${storage}:`)) throw new ProxmoxError(step, `volume ${volid} is not on storage ${storage}`);
    await runTool(this.tools, step, 'pvesm', ['free', volid]);
  }
}
