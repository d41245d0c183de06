/**
 * The runtime's side of the create protocol (docs/architecture.md, "The create protocol"): one
 * record per container, `<root>/<id>/state.json`, holds the backend's progress (`backendData`) and
 * the Proxmox calls that may still run (`inflight`). Both are written into the record with the
 * state store's atomic write (temp file, fsync, rename, fsync of the folder) before the side effect
 * they name, so whatever a crash leaves behind is named in the record the next `delete --force` reads.
 */
import type { InflightCall, InflightTracker } from '../proxmox/client.js';
import { RuntimeError } from './errors.js';
import type { ContainerRecord, ProgressRecorder } from './backend.js';
import type { StateStore } from './state-store.js';

function sameCall(a: InflightCall, b: InflightCall): boolean {
  return a.kind === 'process' && b.kind === 'process' ? a.pid === b.pid && a.startTime === b.startTime : a.kind === 'task' && b.kind === 'task' && a.upid === b.upid;
}

/** Progress and in-flight calls of one container, written into its record; use under the container's lock. */
export class RecordProgress implements ProgressRecorder, InflightTracker {
  constructor(
    private readonly store: StateStore,
    private readonly record: ContainerRecord,
  ) {}

  get data(): Readonly<Record<string, unknown>> {
    return this.record.backendData;
  }

  save(data: object): void {
    this.record.backendData = JSON.parse(JSON.stringify(data)) as Record<string, unknown>;
    this.store.write(this.record);
  }

  started(call: InflightCall): void {
    this.record.inflight = [...(this.record.inflight ?? []), call];
    this.store.write(this.record);
  }

  ended(call: InflightCall): void {
    const rest = (this.record.inflight ?? []).filter((c) => !sameCall(c, call));
    if (rest.length > 0) this.record.inflight = rest;
    else delete this.record.inflight;
    this.store.write(this.record);
  }
}

/** For operations without the container's lock (state, ps, exec) and outside a container: reads only. */
export function readOnlyProgress(data: Readonly<Record<string, unknown>>): ProgressRecorder {
  return {
    data,
    save(): void {
      throw new RuntimeError('Internal', 'a backend recorded progress outside the container\'s lock');
    },
  };
}
