/**
 * The state JSON of runtime-spec "Query State" (with runc's extra fields rootfs, created, owner),
 * built from proxrun's record and the backend's live status. The shape is the generated `State`
 * type of schemas/oci-state.schema.json; hooks get the same JSON on stdin.
 */
import type { State } from '../oci/spec.js';
import { SPEC_VERSION } from '../oci/version.js';
import type { BackendStatus, ContainerRecord } from './backend.js';

export function buildState(record: ContainerRecord, live: BackendStatus): State {
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
