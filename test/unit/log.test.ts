import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { configureLog, jsonLineToText, logDebug, logError } from '../../src/runtime/log.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-log-'));
after(() => fs.rmSync(base, { recursive: true, force: true }));

describe('log file', () => {
  it('writes one runc-shaped JSON line per error, appending, with an RFC 3339 time', async () => {
    const file = path.join(base, 'log.json');
    fs.writeFileSync(file, '{"level":"info","msg":"earlier","time":"2026-01-01T00:00:00Z"}\n');
    configureLog({ file, format: 'json', debug: false });
    await logError('container does not exist');
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2);
    const entry = JSON.parse(lines[1] ?? '') as Record<string, unknown>;
    assert.deepEqual(Object.keys(entry).sort(), ['level', 'msg', 'time']);
    assert.equal(entry.level, 'error');
    assert.equal(entry.msg, 'container does not exist');
    assert.match(String(entry.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    assert.equal(fs.statSync(file).mode & 0o777, 0o644);
  });

  it('writes logrus text lines with --log-format text', async () => {
    const file = path.join(base, 'log.txt');
    configureLog({ file, format: 'text', debug: false });
    await logError('bad "thing"');
    assert.match(fs.readFileSync(file, 'utf8'), /^time="[^"]+" level=error msg="bad \\"thing\\""\n$/);
  });

  it('adds debug lines only with --debug', async () => {
    const file = path.join(base, 'debug.json');
    configureLog({ file, format: 'json', debug: false });
    await logDebug('hidden');
    assert.equal(fs.existsSync(file), false);
    configureLog({ file, format: 'json', debug: true });
    await logDebug('shown', { id: 'c1' });
    const entry = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.equal(entry.level, 'debug');
    assert.equal(entry.id, 'c1');
  });

  it('never writes secrets given as fields', async () => {
    const file = path.join(base, 'secret.json');
    configureLog({ file, format: 'json', debug: true });
    await logDebug('api call', { tokenSecret: 'abc-123-secret', password: 'hunter2' });
    const text = fs.readFileSync(file, 'utf8');
    assert.doesNotMatch(text, /abc-123-secret|hunter2/);
  });

  it('converts a JSON line to text with extra fields kept', () => {
    assert.equal(jsonLineToText('{"level":"warn","time":"T","msg":"m","id":"c1"}'), 'time="T" level=warn msg="m" id="c1"\n');
  });
});
