import type { BackendStatus, ContainerStatus } from './backend.js';
import type { ContainerRecord } from './state-store.js';

/** The runtime-spec version proxrun implements, as `state`, `--version` and `features` report it. */
export const SPEC_VERSION = '1.3.0';
export const SPEC_VERSION_MIN = '1.0.0';

/** The state JSON of runtime-spec "Query State", with runc's extra fields. */
export interface OciState {
  ociVersion: string;
  id: string;
  pid: number;
  status: ContainerStatus;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations: Record<string, string>;
}

export function buildState(record: ContainerRecord, live: BackendStatus): OciState {
  return {
    ociVersion: SPEC_VERSION,
    id: record.id,
    pid: live.status === 'stopped' ? 0 : live.pid,
    status: live.status,
    bundle: record.bundle,
    rootfs: record.rootfs,
    created: record.created,
    owner: record.owner,
    annotations: { 'io.proxrun.backend': record.backend, ...record.annotations, ...(live.annotations ?? {}) },
  };
}
