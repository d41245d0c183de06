/**
 * Container volume specs (`rootfs`, `mpN`): classifying them as pve-container does (bind, device,
 * volume, or a new allocation `STORAGE:SIZE`), and the size arithmetic.
 */
export type MountpointKind = 'bind' | 'device' | 'volume' | 'alloc';

export interface MountpointSpec {
  volume: string;
  kind: MountpointKind;
  /** For `alloc`: storage and size in GiB. */
  storage?: string;
  sizeGiB?: number;
  /** Other options as written (`mp=/x`, `size=8G`, ...), in order. */
  options: Array<[string, string]>;
}

export function parseMountpoint(value: string, defaultStorage: string): MountpointSpec {
  const parts = value.split(',');
  let volume = '';
  const options: Array<[string, string]> = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) volume = part;
    else if (part.slice(0, eq) === 'volume') volume = part.slice(eq + 1);
    else options.push([part.slice(0, eq), part.slice(eq + 1)]);
  }
  if (volume.startsWith('/dev/')) return { volume, kind: 'device', options };
  if (volume.startsWith('/')) return { volume, kind: 'bind', options };
  const alloc = /^(?:([a-z][a-z0-9\-_.]*[a-z0-9]):)?(\d+(?:\.\d+)?)$/i.exec(volume);
  if (alloc) return { volume, kind: 'alloc', storage: alloc[1] ?? defaultStorage, sizeGiB: Number(alloc[2]), options };
  return { volume, kind: 'volume', options };
}

/** Writes a mountpoint spec back (`volume,opt=v,...`). */
export function formatMountpoint(volume: string, options: Array<[string, string]>): string {
  return [volume, ...options.map(([k, v]) => `${k}=${v}`)].join(',');
}

/** `size=` value as Proxmox writes it (`8G`, `512M`). */
export function formatSizeGiB(gib: number): string {
  return Number.isInteger(gib) ? `${gib}G` : `${Math.round(gib * 1024)}M`;
}
