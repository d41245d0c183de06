/**
 * ProxmoxClient over the HTTPS API with an API token. Writes that Proxmox runs as tasks return a
 * UPID; every such method reports the task to the tracker and waits for it (tasks.ts) before
 * resolving. What the API cannot do, proxrun does on the node it runs on, as an administrator
 * would: raw `lxc.*` keys and a container's `lock` are edited in the node's config file in pveDir.
 */
import {
  ProxmoxError, type ClusterGuest, type CtStatus, type InflightCall, type InflightTracker, type ProxmoxClient, type PveParams, type RawLxcEntry,
  type StorageVolume, type VmStatus,
} from './client.js';
import { setRawLxcKeys, unlockGuestConf } from './conf-file.js';
import { runningUpids, settleCall, type TaskControl } from './inflight.js';
import { isMissingGuest } from './step.js';
import { apiRequest, uploadFileSize, type ApiEndpoint, type HttpMethod } from './api-request.js';
import { parseUpid, waitForTask, type TaskStatusReply } from './tasks.js';
import { checkUploadName, uploadVolid, type UploadContent } from './upload-name.js';
import { toClusterGuests, toConfig, toCtStatus, toVersion, toVmid, toVolumePath, toVolumes } from './response-shapes.js';

export interface ApiTransportSettings {
  node: string;
  endpoint: ApiEndpoint;
  /** The cluster file system on this node (raw lxc keys, locks). */
  pveDir: string;
  tracker?: InflightTracker | undefined;
}

const seg = encodeURIComponent;

export class ApiTransport implements ProxmoxClient {
  readonly transport = 'api' as const;
  readonly node: string;
  private readonly endpoint: ApiEndpoint;
  private readonly pveDir: string;
  private readonly tracker: InflightTracker | undefined;

  constructor(settings: ApiTransportSettings) {
    this.node = settings.node;
    this.endpoint = settings.endpoint;
    this.pveDir = settings.pveDir;
    this.tracker = settings.tracker;
  }

  private call(step: string, method: HttpMethod, path: string, params?: PveParams): Promise<unknown> {
    return apiRequest(this.endpoint, params === undefined ? { step, method, path } : { step, method, path, params });
  }

  /** Runs a write that answers with a UPID and waits for the task within the same time limit. */
  private async task(step: string, method: HttpMethod, path: string, params?: PveParams): Promise<void> {
    const started = Date.now();
    const upid = await this.call(step, method, path, params);
    await this.awaitUpid(step, upid, started);
  }

  private async readTaskStatus(step: string, node: string, upid: string): Promise<TaskStatusReply> {
    const data = await this.call(step, 'GET', `/nodes/${seg(node)}/tasks/${seg(upid)}/status`);
    const o = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
    const reply: TaskStatusReply = { status: String(o['status'] ?? '') };
    if (typeof o['exitstatus'] === 'string') reply.exitstatus = o['exitstatus'];
    return reply;
  }

  /**
   * Waits for a task. It is reported to the tracker first and reported ended only once Proxmox said
   * it stopped: a task that timed out here, or whose status could not be read, may still run.
   */
  private async awaitUpid(step: string, upid: unknown, started: number): Promise<void> {
    if (typeof upid !== 'string') throw new ProxmoxError(step, 'Proxmox answered without a task id');
    const call: InflightCall = { kind: 'task', node: parseUpid(upid)?.node ?? this.node, upid, step };
    this.tracker?.started(call);
    let stopped = false;
    const readStatus = async (node: string, id: string): Promise<TaskStatusReply> => {
      const reply = await this.readTaskStatus(step, node, id);
      if (reply.status === 'stopped') stopped = true;
      return reply;
    };
    try {
      await waitForTask(upid, readStatus, { step, deadline: started + this.endpoint.timeoutSeconds * 1000, timeoutSeconds: this.endpoint.timeoutSeconds });
    } finally {
      if (stopped) this.tracker?.ended(call);
    }
  }

  async version(): Promise<{ version: string; release: string }> {
    return toVersion('version', await this.call('version', 'GET', '/version'));
  }

  async nextId(vmid?: number): Promise<number> {
    const step = vmid === undefined ? 'nextid' : `nextid ${vmid}`;
    return toVmid(step, await this.call(step, 'GET', '/cluster/nextid', vmid === undefined ? undefined : { vmid }));
  }

  async clusterGuests(): Promise<ClusterGuest[]> {
    return toClusterGuests('cluster resources', await this.call('cluster resources', 'GET', '/cluster/resources', { type: 'vm' }));
  }

  private ctPath(node: string, vmid: number, rest = ''): string {
    return `/nodes/${seg(node)}/lxc/${vmid}${rest}`;
  }

  async createCt(node: string, vmid: number, params: PveParams): Promise<void> {
    await this.task(`create CT ${vmid}`, 'POST', `/nodes/${seg(node)}/lxc`, { ...params, vmid });
  }

  async ctConfig(node: string, vmid: number): Promise<Record<string, unknown>> {
    const step = `config CT ${vmid}`;
    return toConfig(step, await this.call(step, 'GET', this.ctPath(node, vmid, '/config')));
  }

  async setCtConfig(node: string, vmid: number, params: PveParams, deleteKeys: readonly string[] = []): Promise<void> {
    const body: PveParams = { ...params };
    if (deleteKeys.length > 0) body['delete'] = deleteKeys.join(',');
    const step = `set config CT ${vmid}`;
    const result = await this.call(step, 'PUT', this.ctPath(node, vmid, '/config'), body);
    // Plain updates are synchronous (null); some (e.g. resizing) answer with a task.
    if (typeof result === 'string' && result.startsWith('UPID:')) await this.awaitUpid(step, result, Date.now());
  }

  async ctStatus(node: string, vmid: number): Promise<CtStatus> {
    const step = `status CT ${vmid}`;
    return toCtStatus(step, await this.call(step, 'GET', this.ctPath(node, vmid, '/status/current')));
  }

  async startCt(node: string, vmid: number): Promise<void> {
    await this.task(`start CT ${vmid}`, 'POST', this.ctPath(node, vmid, '/status/start'));
  }

  async stopCt(node: string, vmid: number): Promise<void> {
    await this.task(`stop CT ${vmid}`, 'POST', this.ctPath(node, vmid, '/status/stop'));
  }

  async shutdownCt(node: string, vmid: number, options: { timeout: number; forceStop: boolean }): Promise<void> {
    await this.task(`shutdown CT ${vmid}`, 'POST', this.ctPath(node, vmid, '/status/shutdown'), { timeout: options.timeout, forceStop: options.forceStop });
  }

  async destroyCt(node: string, vmid: number, options: { force: boolean; purge: boolean }): Promise<void> {
    await this.task(`destroy CT ${vmid}`, 'DELETE', this.ctPath(node, vmid), { force: options.force, purge: options.purge });
  }

  async unlockCt(node: string, vmid: number): Promise<void> {
    try {
      await unlockGuestConf(this.pveDir, node, 'lxc', vmid);
    } catch (err) {
      throw new ProxmoxError(`unlock CT ${vmid}`, (err as Error).message);
    }
  }

  async setRawLxc(node: string, vmid: number, entries: readonly RawLxcEntry[], replaceKeys: readonly string[]): Promise<void> {
    await setRawLxcKeys(this.pveDir, node, vmid, entries, replaceKeys);
  }

  private vmPath(node: string, vmid: number, rest = ''): string {
    return `/nodes/${seg(node)}/qemu/${vmid}${rest}`;
  }

  async createVm(node: string, vmid: number, params: PveParams): Promise<void> {
    await this.task(`create VM ${vmid}`, 'POST', `/nodes/${seg(node)}/qemu`, { ...params, vmid });
  }

  async vmConfig(node: string, vmid: number): Promise<Record<string, unknown>> {
    const step = `config VM ${vmid}`;
    return toConfig(step, await this.call(step, 'GET', this.vmPath(node, vmid, '/config')));
  }

  async vmStatus(node: string, vmid: number): Promise<VmStatus> {
    const step = `status VM ${vmid}`;
    return toCtStatus(step, await this.call(step, 'GET', this.vmPath(node, vmid, '/status/current')));
  }

  async startVm(node: string, vmid: number): Promise<void> {
    await this.task(`start VM ${vmid}`, 'POST', this.vmPath(node, vmid, '/status/start'));
  }

  async stopVm(node: string, vmid: number, options: { skiplock?: boolean } = {}): Promise<void> {
    await this.task(`stop VM ${vmid}`, 'POST', this.vmPath(node, vmid, '/status/stop'), options.skiplock === true ? { skiplock: true } : {});
  }

  async destroyVm(node: string, vmid: number, options: { purge: boolean; skiplock?: boolean }): Promise<void> {
    await this.task(`destroy VM ${vmid}`, 'DELETE', this.vmPath(node, vmid), { purge: options.purge, ...(options.skiplock === true ? { skiplock: true } : {}) });
  }

  async createDirMapping(id: string, node: string, directory: string, description: string): Promise<void> {
    await this.call(`create directory mapping ${id}`, 'POST', '/cluster/mapping/dir', { id, map: `node=${node},path=${directory}`, description });
  }

  async deleteDirMapping(id: string): Promise<void> {
    try {
      await this.call(`delete directory mapping ${id}`, 'DELETE', `/cluster/mapping/dir/${seg(id)}`);
    } catch (err) {
      if (!isMissingGuest(err)) throw err;
    }
  }

  async activeTasks(node: string, vmid: number): Promise<string[]> {
    return runningUpids(await this.call(`tasks of ${vmid}`, 'GET', `/nodes/${seg(node)}/tasks`, { vmid, source: 'active' }));
  }

  settle(call: InflightCall): Promise<void> {
    const control: TaskControl = {
      timeoutSeconds: this.endpoint.timeoutSeconds,
      stopTask: async (node, upid) => {
        await this.call(`stop task ${upid}`, 'DELETE', `/nodes/${seg(node)}/tasks/${seg(upid)}`);
      },
      taskStatus: (node, upid) => this.readTaskStatus(`task status ${upid}`, node, upid),
    };
    return settleCall(call, control);
  }

  async uploadFile(node: string, storage: string, content: UploadContent, file: string, filename: string): Promise<string> {
    checkUploadName(content, filename);
    const step = `upload ${filename}`;
    const size = uploadFileSize(step, file);
    const upid = await apiRequest(this.endpoint, {
      step,
      method: 'POST',
      path: `/nodes/${seg(node)}/storage/${seg(storage)}/upload`,
      upload: { fields: { content }, file: { field: 'filename', path: file, filename, size } },
    });
    await this.awaitUpid(step, upid, Date.now());
    return uploadVolid(storage, content, filename);
  }

  async storageContent(node: string, storage: string, content?: string): Promise<StorageVolume[]> {
    const step = `storage content ${storage}`;
    return toVolumes(step, await this.call(step, 'GET', `/nodes/${seg(node)}/storage/${seg(storage)}/content`, content === undefined ? undefined : { content }));
  }

  async volumePath(node: string, volid: string): Promise<string> {
    const step = `volume path ${volid}`;
    const storage = volid.slice(0, Math.max(0, volid.indexOf(':')));
    if (storage === '') throw new ProxmoxError(step, `${volid} is not a volume id (STORAGE:VOLNAME)`);
    return toVolumePath(step, await this.call(step, 'GET', `/nodes/${seg(node)}/storage/${seg(storage)}/content/${seg(volid)}`));
  }

  async deleteVolume(node: string, storage: string, volid: string): Promise<void> {
    const step = `delete volume ${volid}`;
    const result = await this.call(step, 'DELETE', `/nodes/${seg(node)}/storage/${seg(storage)}/content/${seg(volid)}`);
    if (typeof result === 'string' && result.startsWith('UPID:')) await this.awaitUpid(step, result, Date.now());
  }
}
