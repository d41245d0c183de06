/**
 * The schema checker (api-schema.ts) on the official schema file, where it exists beside the repository
 * (the same checks on the simulator's own rules are in own-rules.test.ts), Perl pattern translation and UPIDs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApiSchema, validateParams, type MethodSchema } from './api-schema.js';
import { perlToJsRegExp } from './perl-regex.js';
import { formatUpid, parseUpid, exitStatusOf } from './tasks.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const schemaFile = path.resolve(repoRoot, '../shared/reference/pve-api/apidata-pve9.1.json');

const skipOfficial = fs.existsSync(schemaFile) ? undefined : `the official schema ${schemaFile} is not there (only a checkout beside ../shared has it)`;

function createSchema(): MethodSchema {
  const schema = ApiSchema.load(schemaFile);
  const m = schema?.match('/nodes/pve1/lxc', 'POST');
  assert.ok(m?.method, 'POST /nodes/{node}/lxc not in the schema');
  assert.deepEqual(m.pathParams, { node: 'pve1' });
  return m.method;
}

test('a valid create passes the official schema', { skip: skipOfficial }, () => {
  const errors = validateParams(createSchema(), {
    node: 'pve1', vmid: '100', ostemplate: 'local:vztmpl/a.tar', rootfs: 'local:8', net0: 'name=eth0,bridge=vmbr0,ip=dhcp',
    features: 'nesting=1', env: 'A=1\0B=2', hostname: 'web-1', unprivileged: 'true', tags: 'a;b',
  });
  assert.deepEqual(errors, {});
});

test('refusals carry pve-common messages (official schema)', { skip: skipOfficial }, () => {
  const errors = validateParams(createSchema(), {
    node: 'pve1', vmid: '99', hostname: 'a_b', memory: '8', foo: '1', net0: 'bridge=vmbr0', cmode: 'x', cores: 'abc',
  });
  assert.equal(errors['ostemplate'], 'property is missing and it is not optional');
  assert.equal(errors['vmid'], 'value must have a minimum value of 100');
  assert.equal(errors['hostname'], 'invalid format - value does not look like a valid DNS name');
  assert.equal(errors['memory'], 'value must have a minimum value of 16');
  assert.equal(errors['foo'], 'property is not defined in schema and the schema does not allow additional properties');
  assert.equal(errors['net0'], 'invalid format - format error\nnet0.name: property is missing and it is not optional\n');
  assert.equal(errors['cmode'], "value 'x' does not have a value in the enumeration 'shell, console, tty'");
  assert.equal(errors['cores'], "type check ('integer') failed - got 'abc'");
});

test('Perl patterns translate: (?^:...), (?^i:...), {,n}', () => {
  assert.ok(perlToJsRegExp('(?^i:[a-z0-9_][a-z0-9_\\-\\+\\.]*)').test('ABC'));
  assert.ok(!perlToJsRegExp('(?^:[a-z]+)').test('abc1'));
  assert.ok(perlToJsRegExp('[A-Z]{,2}').test('AB'));
  assert.ok(!perlToJsRegExp('[A-Z]{,2}').test('ABC'));
});

test('UPIDs follow pve-common: eight hex digits, trailing colon; exit status from the last log line', () => {
  const upid = formatUpid({ node: 'pve1', pid: 0x3a1b2, pstart: 0xc0ffee, starttime: 0x6760a1b2, type: 'vzcreate', id: '100', user: 'root@pam' });
  assert.equal(upid, 'UPID:pve1:0003A1B2:00C0FFEE:6760A1B2:vzcreate:100:root@pam:');
  assert.equal(parseUpid(upid)?.starttime, 0x6760a1b2);
  assert.equal(parseUpid('UPID:x'), undefined);
  assert.equal(exitStatusOf('TASK OK'), 'OK');
  assert.equal(exitStatusOf('TASK WARNINGS: 2'), 'WARNINGS: 2');
  assert.equal(exitStatusOf('TASK ERROR: boom'), 'boom');
  assert.equal(exitStatusOf('something'), 'unexpected status');
});
