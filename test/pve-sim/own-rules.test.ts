/**
 * The simulator's own parameter rules (own-rules.ts): they cover every route the simulator serves, accept
 * what proxrun and the tests send, refuse what Proxmox refuses with pve-common's messages, and, where the
 * official schema file exists beside the repository, say the same as it for every parameter they list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiSchema, validateParams, type MethodSchema, type Params, type SchemaProperty } from './api-schema.js';
import { OWN_RULES, ownMethodSchema } from './own-rules.js';
import { ROUTES } from './api-routes.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const schemaFile = path.resolve(repoRoot, '../shared/reference/pve-api/apidata-pve9.1.json');
const skipOfficial = fs.existsSync(schemaFile) ? undefined : `the official schema ${schemaFile} is not there (only a checkout beside ../shared has it)`;

function own(key: string): MethodSchema {
  const [method = '', template = ''] = key.split(' ');
  const schema = ownMethodSchema(method, template);
  assert.ok(schema, `no own rules for ${key}`);
  return schema;
}

function check(key: string, params: Params): Record<string, string> {
  return validateParams(own(key), params);
}

test('every route the simulator serves has rules of its own, and no rule names a route it does not serve', () => {
  const served = [...Object.keys(ROUTES), 'POST /access/ticket'].sort();
  assert.deepEqual(Object.keys(OWN_RULES).sort(), served);
});

test('what proxrun sends to create, configure and remove a CT passes', () => {
  const create = {
    node: 'pve1', vmid: '101', ostemplate: 'local:vztmpl/proxrun-base-c1-0a1b2c3d.tar', rootfs: 'local:0,ro=1', ostype: 'unmanaged',
    unprivileged: '1', cmode: 'console', hostname: 'c1', description: 'proxrun container c1\n\nmade by a test', memory: '256', swap: '0',
    cores: '2', cpulimit: '1.5', cpuunits: '512', features: 'nesting=1,keyctl=1', net0: 'name=eth0,bridge=vmbr0,ip=10.0.0.2/24,gw=10.0.0.1,host-managed=1',
    tags: 'proxrun;ci', pool: 'ci', entrypoint: '/bin/sh /app.sh\targ', env: 'A=1\0B=two words', storage: 'local', start: '0',
  };
  assert.deepEqual(check('POST /nodes/{node}/lxc', create), {});
  assert.deepEqual(check('PUT /nodes/{node}/lxc/{vmid}/config', { node: 'pve1', vmid: '101', memory: '512', delete: 'entrypoint,env,lock', digest: 'a'.repeat(40) }), {});
  assert.deepEqual(check('POST /nodes/{node}/lxc/{vmid}/status/shutdown', { node: 'pve1', vmid: '101', timeout: '10', forceStop: '1' }), {});
  assert.deepEqual(check('DELETE /nodes/{node}/lxc/{vmid}', { node: 'pve1', vmid: '101', force: '1', purge: '1' }), {});
  assert.deepEqual(check('GET /nodes/{node}/storage/{storage}/content/{volume}', { node: 'pve1', storage: 'local', volume: 'local:101/subvol-101-disk-0.subvol' }), {});
  assert.deepEqual(check('POST /nodes/{node}/storage/{storage}/upload', { node: 'pve1', storage: 'local', content: 'vztmpl', filename: 'x.tar' }), {});
});

test('what proxrun sends to create a VM and its directory mapping passes', () => {
  const create = {
    node: 'pve1', vmid: '300', name: 'proxrun-c1', description: 'proxrun container c1', ostype: 'l26', memory: '256', cores: '1', vga: 'none',
    args: '-kernel /boot/vmlinuz -initrd /run/x.img -append "console=hvc0"', virtio0: 'local:0,import-from=/run/proxrun/vm/c1/disk.raw', virtiofs0: 'proxrun-c1-0',
    serial0: 'socket', agent: '1', kvm: '0', machine: 'q35', scsihw: 'virtio-scsi-single', scsi0: 'local:1,cache=none,discard=on', boot: 'order=virtio0',
  };
  assert.deepEqual(check('POST /nodes/{node}/qemu', create), {});
  assert.deepEqual(check('POST /cluster/mapping/dir', { id: 'proxrun-c1-0', map: 'node=pve1,path=/srv/data', description: 'proxrun: a bind mount' }), {});
  assert.deepEqual(check('DELETE /nodes/{node}/qemu/{vmid}', { node: 'pve1', vmid: '300', purge: '1' }), {});
});

test('refusals carry pve-common messages (own rules)', () => {
  const errors = check('POST /nodes/{node}/lxc', {
    node: 'pve1', vmid: '99', hostname: 'a_b', memory: '8', foo: '1', net0: 'bridge=vmbr0', cmode: 'x', cores: 'abc', net10: 'name=eth0',
  });
  assert.deepEqual(errors, {
    ostemplate: 'property is missing and it is not optional',
    vmid: 'value must have a minimum value of 100',
    hostname: 'invalid format - value does not look like a valid DNS name',
    memory: 'value must have a minimum value of 16',
    foo: 'property is not defined in schema and the schema does not allow additional properties',
    net0: 'invalid format - format error\nnet0.name: property is missing and it is not optional\n',
    cmode: "value 'x' does not have a value in the enumeration 'shell, console, tty'",
    cores: "type check ('integer') failed - got 'abc'",
    net10: 'property is not defined in schema and the schema does not allow additional properties',
  });
  assert.deepEqual(check('GET /cluster/nextid', { vmid: '1000000000' }), { vmid: 'value must have a maximum value of 999999999' });
  assert.deepEqual(check('PUT /nodes/{node}/lxc/{vmid}/config', { node: 'pve1', vmid: '100', env: 'A=1\nB=2', tty: '7', unprivileged: 'maybe' }), {
    env: 'value does not match the regex pattern',
    tty: 'value must have a maximum value of 6',
    unprivileged: "type check ('boolean') failed - got 'maybe'",
  });
  assert.deepEqual(check('POST /nodes/{node}/lxc/{vmid}/status/start', { node: 'n_1', vmid: '100' }), { node: 'invalid format - value does not look like a valid node name' });
  assert.deepEqual(check('POST /nodes/{node}/qemu', { node: 'pve1', vmid: '300', memory: '8', virtio0: 'local:0,cache=fast', net0: 'virtio,bridge=vmbr0,mtu=70000' }), {
    memory: 'invalid format - format error\nmemory.current: value must have a minimum value of 16\n',
    virtio0: "invalid format - format error\nvirtio0.cache: value 'fast' does not have a value in the enumeration 'none, writethrough, writeback, unsafe, directsync'\n",
    net0: 'invalid format - format error\nnet0.mtu: value must have a maximum value of 65520\n',
  });
  assert.deepEqual(check('POST /nodes/{node}/storage/{storage}/oci-registry-pull', { node: 'pve1', storage: 'local', reference: 'Busybox' }), { reference: 'value does not match the regex pattern' });
  assert.deepEqual(check('POST /nodes/{node}/storage/{storage}/oci-registry-pull', { node: 'pve1', storage: 'local', reference: 'registry.example:5000/library/busy_box:1.36-musl' }), {});
});

/** The official property for an own parameter name (`net0` style names are listed as `net[n]` in both). */
function officialProperty(method: MethodSchema, name: string): SchemaProperty | undefined {
  return method.parameters?.properties?.[name];
}

/** Differences between an own rule and the official property, as readable lines. */
function differences(where: string, mine: SchemaProperty, theirs: SchemaProperty): string[] {
  const out: string[] = [];
  const num = (v: unknown): number | undefined => (v === undefined ? undefined : Number(v));
  const same = (what: string, a: unknown, b: unknown): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${where}: ${what} ${JSON.stringify(a)} here, ${JSON.stringify(b)} in the official schema`);
  };
  if (mine.alias !== undefined || theirs.alias !== undefined) {
    same('alias', mine.alias, theirs.alias);
    return out;
  }
  same('type', mine.type ?? 'string', theirs.type ?? 'string');
  same('optional', Boolean(mine.optional), Boolean(theirs.optional));
  same('minimum', num(mine.minimum), num(theirs.minimum));
  same('maximum', num(mine.maximum), num(theirs.maximum));
  same('maxLength', num(mine.maxLength), num(theirs.maxLength));
  same('minLength', num(mine.minLength), num(theirs.minLength));
  same('enum', mine.enum ? [...mine.enum].sort() : undefined, theirs.enum ? [...theirs.enum].sort() : undefined);
  same('default key', Boolean(mine.default_key), Boolean(theirs.default_key));
  same('has a pattern', mine.pattern !== undefined, theirs.pattern !== undefined);
  const mineFormat = mine.format;
  const theirFormat = theirs.format;
  if (typeof mineFormat === 'object' && typeof theirFormat === 'object') {
    for (const [key, rule] of Object.entries(mineFormat)) {
      const official = theirFormat[key];
      if (official === undefined) out.push(`${where}.${key}: not in the official schema`);
      else out.push(...differences(`${where}.${key}`, rule, official));
    }
    for (const [key, rule] of Object.entries(theirFormat)) {
      if (!rule.optional && rule.alias === undefined && mineFormat[key] === undefined) out.push(`${where}.${key}: required by the official schema, missing here`);
    }
  } else {
    same('format', typeof mineFormat === 'object' ? 'a property string' : mineFormat, typeof theirFormat === 'object' ? 'a property string' : theirFormat);
  }
  if (mine.items !== undefined || theirs.items !== undefined) {
    if (mine.items === undefined || theirs.items === undefined) out.push(`${where}: items on one side only`);
    else out.push(...differences(`${where}[]`, mine.items, theirs.items));
  }
  return out;
}

test('every own rule says what the official schema says for that parameter (and every required one is there)', { skip: skipOfficial }, () => {
  const official = ApiSchema.load(schemaFile);
  assert.ok(official, 'the official schema did not load');
  const problems: string[] = [];
  let compared = 0;
  for (const key of Object.keys(OWN_RULES)) {
    const [method = '', template = ''] = key.split(' ');
    const concrete = template.replace(/\{[^}]+\}/g, (m) => `x${m.slice(1, -1)}`);
    const theirs = official.match(concrete, method)?.method;
    if (!theirs) {
      problems.push(`${key}: not in the official schema`);
      continue;
    }
    for (const [name, rule] of Object.entries(own(key).parameters?.properties ?? {})) {
      const property = officialProperty(theirs, name);
      if (property === undefined) problems.push(`${key} ${name}: not in the official schema`);
      else problems.push(...differences(`${key} ${name}`, rule, property));
      compared += 1;
    }
    for (const [name, property] of Object.entries(theirs.parameters?.properties ?? {})) {
      if (!property.optional && own(key).parameters?.properties?.[name] === undefined) problems.push(`${key} ${name}: required by the official schema, missing here`);
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(compared > 200, `only ${compared} parameters compared`);
});
