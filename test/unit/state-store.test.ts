import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { RuntimeError } from '../../src/runtime/errors.js';
import { StateStore, type ContainerRecord } from '../../src/runtime/state-store.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-store-'));
after(() => fs.rmSync(base, { recursive: true, force: true }));

function record(id: string, extra: Partial<ContainerRecord> = {}): ContainerRecord {
  return { id, backend: 'runc', bundle: '/b', rootfs: '/b/rootfs', created: new Date().toISOString(), owner: '', annotations: {}, backendData: {}, ...extra };
}

describe('state store', () => {
  it('makes the root with mode 0700 and one folder per container', () => {
    const store = new StateStore(path.join(base, 'a'));
    store.claim('c1');
    assert.equal(fs.statSync(store.root).mode & 0o777, 0o700);
    assert.equal(fs.statSync(store.containerDir('c1')).mode & 0o777, 0o700);
  });

  it('refuses to claim a taken id with runc\'s message', () => {
    const store = new StateStore(path.join(base, 'b'));
    store.claim('c1');
    assert.throws(() => store.claim('c1'), (err: unknown) => err instanceof RuntimeError && err.message === 'container with given ID already exists');
  });

  it('writes records atomically: the new record replaces the old one and no temp file stays', () => {
    const store = new StateStore(path.join(base, 'c'));
    store.claim('c1');
    store.write(record('c1', { creating: true }));
    store.write(record('c1', { backendData: { vmid: 123 } }));
    assert.deepEqual(store.read('c1').backendData, { vmid: 123 });
    assert.equal(store.read('c1').creating, undefined);
    assert.deepEqual(fs.readdirSync(store.containerDir('c1')), ['state.json']);
  });

  it('reports a missing container with "container does not exist"', () => {
    const store = new StateStore(path.join(base, 'd'));
    assert.throws(() => store.read('nope'), /^RuntimeError: container does not exist$|container does not exist/);
    assert.equal(store.tryRead('nope'), undefined);
  });

  it('lists only containers that have a record, sorted, and never the lock folder', async () => {
    const store = new StateStore(path.join(base, 'e'));
    for (const id of ['zz', 'aa', 'mm']) {
      store.claim(id);
      store.write(record(id));
    }
    store.claim('half-made');
    await store.withLock('aa', async () => undefined);
    assert.deepEqual(store.list(), ['aa', 'mm', 'zz']);
    store.remove('mm');
    assert.deepEqual(store.list(), ['aa', 'zz']);
  });

  it('runs changes to one container one at a time', async () => {
    const store = new StateStore(path.join(base, 'f'));
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.withLock('c1', async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await new Promise((r) => setImmediate(r));
          order.push(i);
          inside--;
        }),
      ),
    );
    assert.equal(maxInside, 1);
    assert.equal(order.length, 8);
    assert.deepEqual(fs.readdirSync(path.join(store.root, '@locks')), []);
  });
});
