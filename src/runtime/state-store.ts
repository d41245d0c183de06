import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { errExist, errNotExist, RuntimeError } from './errors.js';

export type BackendName = 'runc' | 'crun' | 'proxmox-lxc' | 'proxmox-vm';

/** What proxrun keeps about one container, in `<root>/<id>/state.json`. */
export interface ContainerRecord {
  id: string;
  backend: BackendName;
  /** Absolute bundle path. */
  bundle: string;
  /** Absolute rootfs path. */
  rootfs: string;
  /** RFC 3339 creation time. */
  created: string;
  owner: string;
  annotations: Record<string, string>;
  /** Set while `create` is under way; a record left `creating` is a half-made container. */
  creating?: boolean;
  /** Data the backend keeps for itself (VMID, node, paths). */
  backendData: Record<string, unknown>;
}

const STATE_FILE = 'state.json';

/** Throws unless `dir` is a real folder of this process's user that no one else may write. */
function assertOwnFolder(dir: string): void {
  const info = fs.lstatSync(dir);
  const uid = process.geteuid?.() ?? 0;
  let why: string | undefined;
  if (!info.isDirectory()) why = 'is not a directory';
  else if (info.uid !== uid) why = `belongs to uid ${info.uid}, not to uid ${uid}`;
  else if ((info.mode & 0o022) !== 0) why = `is writable by group or others (mode ${(info.mode & 0o7777).toString(8).padStart(4, '0')})`;
  if (why !== undefined) throw new RuntimeError('Internal', `refusing ${dir}: it ${why}`);
}
/** '@' cannot appear in a container id, so this folder never clashes with one. */
const LOCK_DIR = '@locks';

/**
 * One directory per container under the root, state written atomically
 * (temp file, fsync, rename) and every change made under a per-container lock.
 */
export class StateStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  containerDir(id: string): string {
    return path.join(this.root, id);
  }

  /**
   * Creates the root (mode 0700) if missing; a root that exists keeps its mode (`--root` may name a
   * shared folder: only what proxrun made is chmodded). The lock folder must be this user's alone.
   */
  ensureRoot(): void {
    if (fs.mkdirSync(this.root, { recursive: true, mode: 0o700 }) !== undefined) fs.chmodSync(this.root, 0o700);
    const locks = path.join(this.root, LOCK_DIR);
    if (fs.mkdirSync(locks, { recursive: true, mode: 0o700 }) !== undefined) fs.chmodSync(locks, 0o700);
    assertOwnFolder(locks);
  }

  /** Runs `fn` holding the container's lock. */
  async withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    this.ensureRoot();
    let release: () => Promise<void>;
    try {
      // Loaded on first use: read-only commands (state, list) never lock.
      const { default: lockfile } = await import('proper-lockfile');
      release = await lockfile.lock(this.containerDir(id), {
        realpath: false,
        lockfilePath: path.join(this.root, LOCK_DIR, `${id}.lock`),
        stale: 30_000,
        update: 10_000,
        retries: { retries: 400, factor: 1.2, minTimeout: 10, maxTimeout: 200 },
      });
    } catch (err) {
      throw new RuntimeError('Internal', `cannot lock container ${id}: ${(err as Error).message}`);
    }
    try {
      return await fn();
    } finally {
      await release().catch(() => undefined);
    }
  }

  /** Reads a record; throws "container does not exist" when there is none. */
  read(id: string): ContainerRecord {
    const record = this.tryRead(id);
    if (!record) throw errNotExist();
    return record;
  }

  tryRead(id: string): ContainerRecord | undefined {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.containerDir(id), STATE_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    // A record in a folder someone else controls (a shared --root) could name any path for delete to remove.
    assertOwnFolder(this.containerDir(id));
    return JSON.parse(text) as ContainerRecord;
  }

  /**
   * Removes what a create killed before its first record left: the container's folder when it holds
   * nothing but proxrun's own temporary record files. Anything else there is not proxrun's (a
   * `--root` shared with other folders): it stays, and false says so. Call under the lock.
   */
  removeUnrecorded(id: string): boolean {
    const dir = this.containerDir(id);
    let names: string[];
    try {
      if (!fs.lstatSync(dir).isDirectory()) return false;
      names = fs.readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
      throw err;
    }
    if (!names.every((name) => name.startsWith(`.${STATE_FILE}.`))) return false;
    assertOwnFolder(dir);
    fs.rmSync(dir, { recursive: true, force: true });
    return true;
  }

  /** Makes the container's directory; fails if the id is taken. Call under the lock. */
  claim(id: string): string {
    this.ensureRoot();
    const dir = this.containerDir(id);
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw errExist();
      throw err;
    }
    return dir;
  }

  /** Atomically replaces the record. Call under the lock. */
  write(record: ContainerRecord): void {
    const dir = this.containerDir(record.id);
    const tmp = path.join(dir, `.${STATE_FILE}.${randomBytes(6).toString('hex')}`);
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(record));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(dir, STATE_FILE));
    const dirFd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
  }

  /** Removes the container's directory and everything in it. Call under the lock. */
  remove(id: string): void {
    fs.rmSync(this.containerDir(id), { recursive: true, force: true });
  }

  /** Ids of all containers with a record, sorted. */
  list(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names.filter((n) => n !== LOCK_DIR && fs.existsSync(path.join(this.root, n, STATE_FILE))).sort();
  }
}
