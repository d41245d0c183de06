/**
 * ProxmoxClient over the HTTPS API with an API token. Writes that Proxmox runs as tasks return a
 * UPID; every such method waits for the task (tasks.ts) before resolving.
 */
import { ProxmoxError, type ClusterGuest, type CtStatus, type ProxmoxClient, type PveParams, type StorageVolume } from './client.js';
import { apiRequest, uploadFileSize, type ApiEndpoint, type HttpMethod } from './api-request.js';
import { waitForTask, type TaskStatusReply } from './tasks.js';
import { checkUploadName, uploadVolid, type UploadContent } from './upload-name.js';
import { toClusterGuests, toConfig, toCtStatus, toVersion, toVmid, toVolumePath, toVolumes } from './response-shapes.js';

export interface ApiTransportSettings {
  node: string;
  endpoint: ApiEndpoint;
}

const seg = encodeURIComponent;

export class ApiTransport implements ProxmoxClient {
  readonly transport = 'api' as const;
  readonly node: string;
  private readonly endpoint: ApiEndpoint;

  constructor(settings: ApiTransportSettings) {
    this.node = settings.node;
    this.endpoint = settings.endpoint;
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

  private async awaitUpid(step: string, upid: unknown, started: number): Promise<void> {
    if (typeof upid !== 'string') throw new ProxmoxError(step, 'Proxmox answered without a task id');
    const readStatus = async (node: string, id: string): Promise<TaskStatusReply> => {
      const data = await this.call(step, 'GET', `/nodes/${seg(node)}/tasks/${seg(id)}/status`);
      const o = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
      const reply: TaskStatusReply = { status: String(o['status'] ?? '') };
      if (typeof o['exitstatus'] === 'string') reply.exitstatus = o['exitstatus'];
      return reply;
    };
    await waitForTask(upid, readStatus, { step, deadline: started + this.endpoint.timeoutSeconds * 1000, timeoutSeconds: this.endpoint.timeoutSeconds });
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
