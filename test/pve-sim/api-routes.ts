/** The API paths the simulator implements, by method and schema path template. */
import type { Handler } from './sim-context.js';
import * as cluster from './cluster-api.js';
import * as lxc from './lxc-api.js';
import * as qemu from './qemu-api.js';
import * as dirMappings from './qemu-dir-mappings.js';
import * as storage from './storage-api.js';

export const ROUTES: Record<string, Handler> = {
  'GET /version': cluster.getVersion,
  'GET /cluster/nextid': cluster.getNextId,
  'GET /cluster/resources': cluster.getResources,
  'GET /cluster/mapping/dir': dirMappings.listDirMappings,
  'POST /cluster/mapping/dir': dirMappings.createDirMapping,
  'GET /cluster/mapping/dir/{id}': dirMappings.getDirMapping,
  'PUT /cluster/mapping/dir/{id}': dirMappings.updateDirMapping,
  'DELETE /cluster/mapping/dir/{id}': dirMappings.deleteDirMapping,
  'GET /nodes': cluster.listNodes,
  'GET /nodes/{node}': cluster.nodeIndex,
  'GET /nodes/{node}/status': cluster.nodeStatus,
  'GET /nodes/{node}/version': cluster.getVersion,
  'GET /nodes/{node}/tasks': cluster.listTasks,
  'GET /nodes/{node}/tasks/{upid}/status': cluster.taskStatus,
  'GET /nodes/{node}/tasks/{upid}/log': cluster.taskLog,
  'DELETE /nodes/{node}/tasks/{upid}': cluster.stopTask,
  'GET /nodes/{node}/lxc': lxc.listCts,
  'POST /nodes/{node}/lxc': lxc.createCt,
  'GET /nodes/{node}/lxc/{vmid}': lxc.ctIndex,
  'DELETE /nodes/{node}/lxc/{vmid}': lxc.destroyCt,
  'GET /nodes/{node}/lxc/{vmid}/config': lxc.getCtConfig,
  'PUT /nodes/{node}/lxc/{vmid}/config': lxc.putCtConfig,
  'GET /nodes/{node}/lxc/{vmid}/status': lxc.statusIndex,
  'GET /nodes/{node}/lxc/{vmid}/status/current': lxc.ctStatusCurrent,
  'POST /nodes/{node}/lxc/{vmid}/status/start': lxc.startCt,
  'POST /nodes/{node}/lxc/{vmid}/status/stop': lxc.stopCt,
  'POST /nodes/{node}/lxc/{vmid}/status/shutdown': lxc.shutdownCt,
  'POST /nodes/{node}/lxc/{vmid}/status/reboot': lxc.rebootCt,
  'GET /nodes/{node}/qemu': qemu.listVms,
  'POST /nodes/{node}/qemu': qemu.createVm,
  'GET /nodes/{node}/qemu/{vmid}': qemu.vmIndex,
  'DELETE /nodes/{node}/qemu/{vmid}': qemu.destroyVm,
  'GET /nodes/{node}/qemu/{vmid}/config': qemu.getVmConfig,
  'PUT /nodes/{node}/qemu/{vmid}/config': qemu.updateVmConfig(false),
  'POST /nodes/{node}/qemu/{vmid}/config': qemu.updateVmConfig(true),
  'GET /nodes/{node}/qemu/{vmid}/status': qemu.vmStatusIndex,
  'GET /nodes/{node}/qemu/{vmid}/status/current': qemu.vmStatusCurrent,
  'POST /nodes/{node}/qemu/{vmid}/status/start': qemu.startVm,
  'POST /nodes/{node}/qemu/{vmid}/status/stop': qemu.stopVm,
  'POST /nodes/{node}/qemu/{vmid}/status/shutdown': qemu.shutdownVm,
  'GET /nodes/{node}/storage': storage.listStorages,
  'GET /nodes/{node}/storage/{storage}': storage.storageIndex,
  'GET /nodes/{node}/storage/{storage}/content': storage.listStorageContent,
  'GET /nodes/{node}/storage/{storage}/content/{volume}': storage.volumeInfo,
  'DELETE /nodes/{node}/storage/{storage}/content/{volume}': storage.deleteVolume,
  'POST /nodes/{node}/storage/{storage}/upload': storage.uploadToStorage,
  'POST /nodes/{node}/storage/{storage}/oci-registry-pull': storage.ociRegistryPull,
};

interface CompiledRoute {
  method: string;
  template: string;
  regex: RegExp;
  names: string[];
  handler: Handler;
}

const compiled: CompiledRoute[] = Object.entries(ROUTES).map(([key, handler]) => {
  const [method = '', template = ''] = key.split(' ');
  const names: string[] = [];
  const src = template.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { method, template, regex: new RegExp(`^${src}$`), names, handler };
});

export interface RouteHit {
  template: string;
  handler: Handler;
  pathParams: Record<string, string>;
}

export function findRoute(method: string, path: string): RouteHit | undefined {
  for (const r of compiled) {
    if (r.method !== method) continue;
    const m = r.regex.exec(path);
    if (!m) continue;
    const pathParams: Record<string, string> = {};
    r.names.forEach((n, i) => {
      pathParams[n] = decodeURIComponent(m[i + 1] ?? '');
    });
    return { template: r.template, handler: r.handler, pathParams };
  }
  return undefined;
}
