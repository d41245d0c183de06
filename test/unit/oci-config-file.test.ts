// Reading a bundle's config.json: parse errors, schema before rules, bytes kept exactly as read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkConfigDocument, loadBundleConfig, parseConfigBytes } from '../../src/oci/config-file.js';
import { formatProblem } from '../../src/oci/problems.js';

function withBundle(run: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-bundle-'));
  try {
    run(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const goodConfig = { ociVersion: '1.3.0', root: { path: 'rootfs' }, process: { cwd: '/', args: ['sh'] } };

test('malformed JSON is one problem at the document root', () => {
  const parsed = parseConfigBytes('{]');
  assert.equal(parsed.spec, undefined);
  assert.equal(parsed.problems.length, 1);
  assert.equal(parsed.problems[0]?.path, '');
  assert.match(parsed.problems[0]?.message ?? '', /^invalid JSON: .+/);
  assert.match(formatProblem(parsed.problems[0] ?? { path: '', message: '' }), /^config\.json: invalid JSON: /);
});

test('a JSON value that is not an object is refused', () => {
  assert.deepEqual(parseConfigBytes('[1]').problems, [{ path: '', message: 'must be a JSON object (got an array)' }]);
  assert.deepEqual(parseConfigBytes('null').problems, [{ path: '', message: 'must be a JSON object (got null)' }]);
  assert.deepEqual(parseConfigBytes(Buffer.from('"x"')).problems, [{ path: '', message: 'must be a JSON object (got a string)' }]);
});

test('a JSON object parses to an unchecked spec', () => {
  const parsed = parseConfigBytes(Buffer.from(JSON.stringify({ ociVersion: 'banana' })));
  assert.deepEqual(parsed, { spec: { ociVersion: 'banana' }, problems: [] });
});

test('a missing config.json names the bundle', () => {
  withBundle((dir) => {
    const loaded = loadBundleConfig(dir);
    assert.equal(loaded.spec, undefined);
    assert.equal(loaded.bytes.length, 0);
    assert.deepEqual(loaded.problems, [{ path: '', message: `no such file in bundle ${dir}` }]);
    assert.equal(formatProblem(loaded.problems[0] ?? { path: '', message: '' }), `config.json: no such file in bundle ${dir}`);
  });
  const missing = path.join(os.tmpdir(), 'proxrun-no-such-bundle-dir');
  assert.deepEqual(loadBundleConfig(missing).problems, [{ path: '', message: `no such file in bundle ${missing}` }]);
});

test('schema problems are reported alone: the rules run only on a schema-valid document', () => {
  withBundle((dir) => {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ociVersion: 'banana', process: { args: ['sh'] } }));
    const loaded = loadBundleConfig(dir);
    assert.equal(loaded.spec, undefined);
    assert.deepEqual(loaded.problems, [{ path: '/process/cwd', message: 'is required' }]);
  });
});

test('rule problems come after a passing schema, including a missing rootfs', () => {
  withBundle((dir) => {
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...goodConfig, ociVersion: 'banana' }));
    const loaded = loadBundleConfig(dir);
    assert.equal(loaded.spec, undefined);
    assert.deepEqual(loaded.problems, [
      { path: '/ociVersion', message: 'must be SemVer 2.0.0 (got "banana")' },
      { path: '/root/path', message: `directory does not exist: ${path.join(dir, 'rootfs')}` },
    ]);
  });
});

test('a good bundle gives the spec and the exact bytes, 64-bit integers untouched', () => {
  withBundle((dir) => {
    fs.mkdirSync(path.join(dir, 'rootfs'));
    const text = `{"ociVersion":"1.3.0","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],
      "rlimits":[{"type":"RLIMIT_NOFILE","soft":18446744073709551615,"hard":18446744073709551615}]}}`;
    fs.writeFileSync(path.join(dir, 'config.json'), text);
    const loaded = loadBundleConfig(dir);
    assert.deepEqual(loaded.problems, []);
    assert.equal(loaded.spec?.process?.args?.[0], 'sh');
    assert.equal(loaded.bytes.toString('utf8'), text);
    assert.ok(loaded.bytes.toString('utf8').includes('18446744073709551615'));
  });
});

test('a relative bundle path is resolved, so the rootfs check uses the real directory', () => {
  withBundle((dir) => {
    fs.mkdirSync(path.join(dir, 'rootfs'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(goodConfig));
    const relative = path.relative(process.cwd(), dir);
    assert.deepEqual(loadBundleConfig(relative).problems, []);
  });
});

test('checkConfigDocument checks an already parsed document (for exec --process style callers)', () => {
  assert.deepEqual(checkConfigDocument({ ...goodConfig, process: { cwd: 'x', args: ['sh'] } }), {
    problems: [{ path: '/process/cwd', message: 'must be an absolute path' }],
  });
  assert.deepEqual(checkConfigDocument(goodConfig).problems, []);
  assert.deepEqual(checkConfigDocument(goodConfig).spec, goodConfig);
});
