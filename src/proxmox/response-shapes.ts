/**
 * Turning Proxmox's JSON answers (API `data`, `pvesh --output-format json`) into the client's types,
 * with an error naming the step when a field is missing or of the wrong type.
 */
import { ProxmoxError, type ClusterGuest, type CtStatus, type StorageVolume } from './client.js';

type JsonObject = Record<string, unknown>;

function object(step: string, value: unknown, what: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProxmoxError(step, `unexpected answer: ${what} is not an object`);
  return value as JsonObject;
}

function array(step: string, value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new ProxmoxError(step, `unexpected answer: ${what} is not a list`);
  return value;
}

function int(step: string, value: unknown, what: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new ProxmoxError(step, `unexpected answer: ${what} is not an integer`);
  return n;
}

function str(step: string, value: unknown, what: string): string {
  if (typeof value !== 'string') throw new ProxmoxError(step, `unexpected answer: ${what} is not a string`);
  return value;
}

/** The absolute `path` of a volume's attributes (`GET .../storage/{storage}/content/{volume}`). */
export function toVolumePath(step: string, data: unknown): string {
  const found = str(step, object(step, data, 'the volume').path, 'path');
  if (!found.startsWith('/')) throw new ProxmoxError(step, `unexpected answer: path ${JSON.stringify(found)} is not absolute`);
  return found;
}

export function toVersion(step: string, data: unknown): { version: string; release: string } {
  const o = object(step, data, 'version');
  return { version: str(step, o['version'], 'version'), release: str(step, o['release'], 'release') };
}

export function toVmid(step: string, data: unknown): number {
  return int(step, data, 'vmid');
}

export function toConfig(step: string, data: unknown): Record<string, unknown> {
  return object(step, data, 'config');
}

export function toCtStatus(step: string, data: unknown): CtStatus {
  const o = object(step, data, 'status');
  const status = o['status'];
  if (status !== 'running' && status !== 'stopped') throw new ProxmoxError(step, `unexpected answer: status ${JSON.stringify(status)}`);
  const out: CtStatus = { status };
  if (o['pid'] !== undefined && o['pid'] !== null && o['pid'] !== '') out.pid = int(step, o['pid'], 'pid');
  if (typeof o['lock'] === 'string' && o['lock'] !== '') out.lock = o['lock'];
  return out;
}

export function toClusterGuests(step: string, data: unknown): ClusterGuest[] {
  const out: ClusterGuest[] = [];
  for (const item of array(step, data, 'resources')) {
    const o = object(step, item, 'resource');
    const type = o['type'];
    if (type !== 'lxc' && type !== 'qemu') continue;
    const guest: ClusterGuest = { vmid: int(step, o['vmid'], 'vmid'), node: str(step, o['node'], 'node'), type, status: String(o['status'] ?? '') };
    if (typeof o['name'] === 'string') guest.name = o['name'];
    out.push(guest);
  }
  return out;
}

export function toVolumes(step: string, data: unknown): StorageVolume[] {
  return array(step, data, 'content').map((item) => {
    const o = object(step, item, 'volume');
    const vol: StorageVolume = {
      volid: str(step, o['volid'], 'volid'),
      content: str(step, o['content'], 'content'),
      format: str(step, o['format'], 'format'),
      size: int(step, o['size'] ?? 0, 'size'),
    };
    if (o['vmid'] !== undefined && o['vmid'] !== null && o['vmid'] !== '') vol.vmid = int(step, o['vmid'], 'vmid');
    return vol;
  });
}
