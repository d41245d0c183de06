import fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import type { Problem } from '../oci/problems.js';
import type { Spec } from '../oci/spec.js';
import { buildState, type OciState } from './oci-state.js';
import {
  isBackendName,
  loadBackend,
  type Backend,
  type BackendContext,
  type BackendStatus,
  type CreateRequest,
  type ExecRequest,
  type GlobalOptions,
} from './backend.js';
import { loadConfig, type ProxrunConfig } from './config.js';
import { errInvalidArgument, errNotExist, errNotRunning, RuntimeError } from './errors.js';
import { assertValidId } from './ids.js';
import { logDebug } from './log.js';
import { podBackendProblem } from './pod.js';
import { StateStore, type BackendName, type ContainerRecord } from './state-store.js';

export const BACKEND_ANNOTATION = 'io.proxrun.backend';
/** What `run` without --detach passes on to the container, as runc run does (SIGKILL and SIGSTOP cannot be caught). */
const RUN_FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2'];
/** The backend used when neither the annotation nor the config names one: the mission's backend. */
export const DEFAULT_BACKEND: BackendName = 'proxmox-lxc';

export interface CreateOptions {
  id: string;
  bundle?: string | undefined;
  pidFile?: string | undefined;
  consoleSocket?: string | undefined;
  noPivot: boolean;
  noNewKeyring: boolean;
  preserveFds: number;
  /** `run` without --detach: the container reads the caller's stdin (see CreateRequest). */
  attachStdin?: boolean;
}

/** A bundle that passed every check, with the backend that will run it. */
export interface CheckedBundle {
  bundle: string;
  configBytes: Buffer;
  spec: Spec;
  backendName: BackendName;
  config: ProxrunConfig;
}

/** The lifecycle operations, one per runc subcommand, over the state store and the backends. */
export class Runtime {
  readonly globals: GlobalOptions;
  readonly store: StateStore;
  private configCache: ProxrunConfig | undefined;

  constructor(globals: GlobalOptions) {
    this.globals = globals;
    this.store = new StateStore(globals.root);
  }

  async config(): Promise<ProxrunConfig> {
    this.configCache ??= await loadConfig();
    return this.configCache;
  }

  private async context(id: string): Promise<BackendContext> {
    return { globals: this.globals, config: await this.config(), containerDir: this.store.containerDir(id) };
  }

  private async backendFor(record: ContainerRecord): Promise<Backend> {
    return loadBackend(record.backend);
  }

  /** Picks the backend for a config: the annotation, else the configured default. */
  chooseBackend(spec: Spec, config: ProxrunConfig): BackendName {
    const requested = spec.annotations?.[BACKEND_ANNOTATION] ?? config.defaultBackend ?? DEFAULT_BACKEND;
    if (!isBackendName(requested)) {
      throw new RuntimeError(
        'InvalidConfig',
        `config.json: /annotations/${BACKEND_ANNOTATION.replace(/~/g, '~0').replace(/\//g, '~1')}: unknown backend "${requested}" (known: runc, crun, proxmox-lxc, proxmox-vm)`,
      );
    }
    return requested;
  }

  /**
   * Every check `create` makes before touching anything: the config against the schema,
   * the spec's rules, and what the chosen backend can honour. Returns all problems.
   */
  async checkBundle(bundleDir: string, configFile?: string): Promise<{ problems: Problem[]; checked?: CheckedBundle }> {
    const bundle = path.resolve(bundleDir);
    // The OCI validator is large: load it only for commands that read a bundle.
    const { loadConfig: loadSpecConfig } = await import('../oci/bundle.js');
    const loaded = loadSpecConfig(bundle, configFile);
    if (!loaded.spec || loaded.problems.length > 0) return { problems: loaded.problems };
    const config = await this.config();
    let backendName: BackendName;
    try {
      backendName = this.chooseBackend(loaded.spec, config);
    } catch (err) {
      return { problems: [{ path: `/annotations/${BACKEND_ANNOTATION}`, message: (err as Error).message.replace(/^config\.json: \S+: /, '') }] };
    }
    // A Kubernetes pod's containers run where its sandbox runs; said alone, before any backend's own checks.
    const podProblem = podBackendProblem(loaded.spec.annotations, backendName, BACKEND_ANNOTATION, (id) => this.recordedBackend(id));
    if (podProblem) return { problems: [podProblem] };
    const backend = await loadBackend(backendName);
    const ctx: BackendContext = { globals: this.globals, config, containerDir: '' };
    const problems = await backend.check(loaded.spec, ctx);
    return { problems, checked: { bundle, configBytes: loaded.bytes, spec: loaded.spec, backendName, config } };
  }

  /** The backend recorded for container `id` under this root, or undefined when there is no readable record. */
  private recordedBackend(id: string): BackendName | undefined {
    try {
      return this.store.tryRead(assertValidId(id))?.backend;
    } catch {
      return undefined;
    }
  }

  private async checkedBundleOrThrow(bundleDir: string): Promise<CheckedBundle> {
    if (!fs.existsSync(bundleDir)) throw errInvalidArgument(`bundle ${bundleDir} does not exist`);
    if (!fs.statSync(bundleDir).isDirectory()) throw errInvalidArgument(`bundle ${bundleDir} is not a directory`);
    const { problems, checked } = await this.checkBundle(bundleDir);
    if (!checked || problems.length > 0) {
      const { formatProblem } = await import('../oci/problems.js');
      throw new RuntimeError('InvalidConfig', problems.map((p) => formatProblem(p)).join('; '));
    }
    return checked;
  }

  private newRecord(id: string, checked: CheckedBundle): ContainerRecord {
    const rootPath = checked.spec.root?.path ?? 'rootfs';
    return {
      id,
      backend: checked.backendName,
      bundle: checked.bundle,
      rootfs: path.resolve(checked.bundle, rootPath),
      created: new Date().toISOString(),
      owner: '',
      annotations: stringEntries(checked.spec.annotations),
      creating: true,
      backendData: {},
    };
  }

  async create(options: CreateOptions): Promise<void> {
    const id = assertValidId(options.id);
    const checked = await this.checkedBundleOrThrow(options.bundle ?? process.cwd());
    const backend = await loadBackend(checked.backendName);
    await this.store.withLock(id, async () => {
      this.store.claim(id);
      const record = this.newRecord(id, checked);
      try {
        this.store.write(record);
        record.backendData = await backend.create(createRequest(record, checked, options), await this.context(id));
        delete record.creating;
        this.store.write(record);
      } catch (err) {
        // Undo what create made. When that fails too, the record stays (marked half-made) so the
        // delete --force that containerd and podman send after a failed create can try again,
        // instead of leaving a guest nothing knows about.
        let undone = false;
        try {
          await backend.delete(record, true, await this.context(id));
          undone = true;
        } catch (cleanupError) {
          await logDebug('create failed and its cleanup failed; the record stays for delete --force', { id, error: (cleanupError as Error).message });
        }
        if (undone) this.store.remove(id);
        throw err;
      }
    });
  }

  /** create + start, like `runc run`; resolves to the exit status to leave with. */
  async run(options: CreateOptions & { detach: boolean }): Promise<number> {
    const id = assertValidId(options.id);
    const checked = await this.checkedBundleOrThrow(options.bundle ?? process.cwd());
    const backend = await loadBackend(checked.backendName);
    if (!backend.run) {
      await this.create({ ...options, attachStdin: !options.detach });
      if (options.detach) {
        await this.start(id);
        return 0;
      }
      return this.startAndWait(id, backend);
    }
    const runBackend = backend as Backend & { run: NonNullable<Backend['run']> };
    const record = await this.store.withLock(id, async () => {
      this.store.claim(id);
      const fresh = this.newRecord(id, checked);
      delete fresh.creating;
      this.store.write(fresh);
      return fresh;
    });
    let status: number;
    try {
      status = await runBackend.run({ ...createRequest(record, checked, options), detach: options.detach }, await this.context(id));
    } catch (err) {
      await this.store.withLock(id, async () => this.store.remove(id));
      throw err;
    }
    if (!options.detach) {
      // Like runc run without --keep: the container is gone once its process has exited.
      await this.store.withLock(id, async () => {
        await backend.delete(record, true, await this.context(id)).catch(() => undefined);
        this.store.remove(id);
      });
    }
    return status;
  }

  /**
   * `run` without --detach on a backend with no `run` of its own (the Proxmox backends): start,
   * forward the signals proxrun gets to the container (as runc run does), wait for the process to
   * end, delete the container and resolve to its exit status. The app's output reaches proxrun's
   * stdout and stderr through the backend's monitor, which inherited them at create.
   */
  private async startAndWait(id: string, backend: Backend): Promise<number> {
    if (!backend.wait) throw new RuntimeError('Unsupported', `run without --detach is not supported by the ${backend.name} backend`);
    const forward = (signal: NodeJS.Signals): void => {
      const number = osConstants.signals[signal];
      void this.kill(id, number, false).catch((err: Error) => logDebug('run: forwarding a signal failed', { id, signal, error: err.message }));
    };
    for (const signal of RUN_FORWARDED_SIGNALS) process.on(signal, forward);
    let status: number;
    try {
      await this.start(id);
      status = await backend.wait(this.readComplete(id), await this.context(id));
    } catch (err) {
      await this.delete(id, true).catch((cleanupError: Error) => logDebug('run: delete after a failure failed', { id, error: cleanupError.message }));
      throw err;
    } finally {
      for (const signal of RUN_FORWARDED_SIGNALS) process.off(signal, forward);
    }
    // Like runc run without --keep: the container is gone once its process has exited.
    await this.delete(id, true);
    return status;
  }

  async start(idArg: string): Promise<void> {
    const id = assertValidId(idArg);
    await this.store.withLock(id, async () => {
      const record = this.readComplete(id);
      await (await this.backendFor(record)).start(record, await this.context(id));
    });
  }

  /** A record whose create finished; a half-made one counts as missing. */
  private readComplete(id: string): ContainerRecord {
    const record = this.store.read(id);
    if (record.creating) throw errNotExist();
    return record;
  }

  async status(record: ContainerRecord): Promise<BackendStatus> {
    if (record.creating) return { status: 'creating', pid: 0 };
    return (await this.backendFor(record)).status(record, await this.context(record.id));
  }

  async state(idArg: string): Promise<OciState> {
    const id = assertValidId(idArg);
    const record = this.store.read(id);
    return buildState(record, await this.status(record));
  }

  async kill(idArg: string, signal: number, all: boolean): Promise<void> {
    const id = assertValidId(idArg);
    await this.store.withLock(id, async () => {
      const record = this.readComplete(id);
      const { status } = await this.status(record);
      if (status === 'stopped') {
        if (all) return;
        throw errNotRunning();
      }
      await (await this.backendFor(record)).kill(record, signal, all, await this.context(id));
    });
  }

  async delete(idArg: string, force: boolean): Promise<void> {
    const id = assertValidId(idArg);
    await this.store.withLock(id, async () => {
      const record = this.store.tryRead(id);
      if (!record) {
        // A directory without a record is what a create killed before its first record leaves. A
        // folder holding anything else is not a container's (a --root shared with other folders): kept.
        if (!force) throw errNotExist();
        if (!this.store.removeUnrecorded(id)) await logDebug('delete --force: not a container folder, left as it is', { id });
        return;
      }
      const backend = await this.backendFor(record);
      if (!force && !record.creating) {
        const { status } = await this.status(record);
        if (status !== 'stopped' && status !== 'created') {
          throw new RuntimeError('NotStopped', `cannot delete container ${id} that is not stopped: ${status}`);
        }
      }
      await backend.delete(record, force || record.creating === true, await this.context(id));
      this.store.remove(id);
    });
  }

  async ps(idArg: string, format: 'table' | 'json', psArgs: string[]): Promise<void> {
    const id = assertValidId(idArg);
    const record = this.readComplete(id);
    await (await this.backendFor(record)).ps(record, format, psArgs, await this.context(id));
  }

  async exec(idArg: string, request: ExecRequest): Promise<number> {
    const id = assertValidId(idArg);
    const record = this.readComplete(id);
    return (await this.backendFor(record)).exec(record, request, await this.context(id));
  }

  async pause(idArg: string): Promise<void> {
    const id = assertValidId(idArg);
    await this.store.withLock(id, async () => {
      const record = this.readComplete(id);
      await (await this.backendFor(record)).pause(record, await this.context(id));
    });
  }

  async resume(idArg: string): Promise<void> {
    const id = assertValidId(idArg);
    await this.store.withLock(id, async () => {
      const record = this.readComplete(id);
      await (await this.backendFor(record)).resume(record, await this.context(id));
    });
  }

  async update(idArg: string, resources: Buffer): Promise<void> {
    const id = assertValidId(idArg);
    await this.store.withLock(id, async () => {
      const record = this.readComplete(id);
      await (await this.backendFor(record)).update(record, resources, await this.context(id));
    });
  }

  /** Every container with its state, for `list`. */
  async list(): Promise<OciState[]> {
    const states: OciState[] = [];
    for (const id of this.store.list()) {
      // A folder that is not proxrun's own (a shared --root) is skipped, not fatal to the listing.
      const record = (() => {
        try {
          return this.store.tryRead(id);
        } catch {
          return undefined;
        }
      })();
      if (!record) continue;
      states.push(buildState(record, await this.status(record)));
    }
    return states;
  }

  /** The default backend's own features, if it has any to add. */
  async backendFeatures(): Promise<Record<string, unknown> | null> {
    const config = await this.config();
    const name = config.defaultBackend ?? DEFAULT_BACKEND;
    const backend = await loadBackend(name);
    return backend.features({ globals: this.globals, config, containerDir: '' });
  }
}



function stringEntries(map: Record<string, string | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map ?? {})) if (typeof v === 'string') out[k] = v;
  return out;
}

function createRequest(record: ContainerRecord, checked: CheckedBundle, options: CreateOptions): CreateRequest {
  return {
    record,
    spec: checked.spec,
    configBytes: checked.configBytes,
    pidFile: options.pidFile ? path.resolve(options.pidFile) : undefined,
    consoleSocket: options.consoleSocket,
    noPivot: options.noPivot,
    noNewKeyring: options.noNewKeyring,
    preserveFds: options.preserveFds,
    ...(options.attachStdin === true ? { attachStdin: true } : {}),
  };
}
