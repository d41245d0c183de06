/**
 * The one resolver of the `proxmox` config section (src/proxmox/settings.ts) and the rules it shares
 * with the schema: defaults come from schemas/proxrun-config.schema.json (one timeout, one cliPath,
 * one node rule for both backends and both transports), each rule lives in one place, and both
 * backends' settings are that resolver plus what each needs on the node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROXMOX_SETTINGS_DEFAULTS, PROXMOX_VM_SETTINGS_DEFAULTS, PROXMOX_VM_SETTINGS_MINIMUMS } from '../../src/oci/generated/proxrun-config-constants.js';
import { validateProxrunConfigSchema } from '../../src/oci/schema-validate.js';
import { resolveProxmoxSettings } from '../../src/proxmox/settings.js';
import { resolveSettings as resolveLxcSettings } from '../../src/backends/proxmox-lxc/settings.js';
import { MIN_VM_MEMORY_MIB, resolveVmSettings } from '../../src/backends/proxmox-vm/settings.js';
import { createProxmoxClient } from '../../src/proxmox/index.js';

const schema = JSON.parse(fs.readFileSync(new URL('../../schemas/proxrun-config.schema.json', import.meta.url), 'utf8')) as {
  definitions: Record<string, { properties: Record<string, { default?: unknown }> }>;
};

test('with no proxmox section every value is the schema default, the node this host\'s short name', () => {
  const { settings, problems } = resolveProxmoxSettings({}, 'pve7.example.org');
  assert.deepEqual(problems, []);
  assert.ok(settings);
  const section = schema.definitions['ProxmoxSettings']?.properties ?? {};
  for (const key of ['transport', 'storage', 'cliPath', 'lxcPath', 'pveDir', 'vmidRange', 'timeoutSeconds', 'rootfsDelivery'] as const) {
    assert.deepEqual(settings[key], section[key]?.default, `${key} is the schema's default`);
  }
  assert.equal(settings.timeoutSeconds, 120, 'the documented timeout, not 60');
  assert.equal(settings.node, 'pve7');
  assert.equal(settings.templateStorage, settings.storage, 'templateStorage defaults to storage');
  assert.deepEqual(settings.vm, { memoryMiB: PROXMOX_VM_SETTINGS_DEFAULTS.memory, cores: PROXMOX_VM_SETTINGS_DEFAULTS.cores });
  assert.equal(settings.api, undefined);
});

test('the generated defaults are the schema\'s own values', () => {
  const section = schema.definitions['ProxmoxSettings']?.properties ?? {};
  for (const [key, value] of Object.entries(PROXMOX_SETTINGS_DEFAULTS)) assert.deepEqual(value, section[key]?.default, key);
});

test('a host name that is no node name needs proxmox.node; a bad proxmox.node is named as such', () => {
  assert.deepEqual(resolveProxmoxSettings({}, 'bad_host').problems, [
    'proxrun config: proxmox.node is not set and this host\'s name "bad_host" is not a valid node name; set proxmox.node',
  ]);
  assert.deepEqual(resolveProxmoxSettings({ proxmox: { node: 'pve1' } }, 'bad_host').problems, []);
  assert.deepEqual(resolveProxmoxSettings({ proxmox: { node: 'bad_node!' } }).problems, ['proxrun config: proxmox.node "bad_node!" is not a valid node name']);
});

test('rules the schema cannot express: the API keys transport "api" needs, an https URL without credentials, the VMID range\'s order', () => {
  assert.deepEqual(resolveProxmoxSettings({ proxmox: { transport: 'api', node: 'pve1', apiUrl: 'https://h' } }).problems, [
    'proxrun config: proxmox.tokenId is required for transport "api"',
    'proxrun config: proxmox.tokenSecretFile is required for transport "api"',
  ]);
  const api = { transport: 'api' as const, node: 'pve1', tokenId: 'root@pam!x', tokenSecretFile: '/etc/proxrun/token' };
  assert.deepEqual(resolveProxmoxSettings({ proxmox: { ...api, apiUrl: 'https://u:p@h:8006' } }).problems, ['proxrun config: proxmox.apiUrl must not hold credentials, a query or a fragment']);
  const ok = resolveProxmoxSettings({ proxmox: { ...api, apiUrl: 'https://h:8006/', caFile: null } });
  assert.equal(ok.settings?.api?.base.href, 'https://h:8006/api2/json');
  assert.equal(ok.settings?.api?.caFile, undefined, 'caFile null is the system store');
  assert.deepEqual(resolveProxmoxSettings({ proxmox: { node: 'pve1', vmidRange: [2000, 1000] } }).problems, ['proxrun config: proxmox.vmidRange: lowest 2000 is above highest 1000']);
});

test('rules the schema holds are checked by the schema only (cliPath, timeoutSeconds, tokenId, apiUrl, node, vm.kernel/memory)', () => {
  assert.deepEqual(validateProxrunConfigSchema({
    proxmox: { cliPath: 'usr/sbin', timeoutSeconds: 0, tokenId: 'root', apiUrl: 'http://h:8006', node: 'bad_node!', vm: { kernel: 'vmlinuz', memory: 32 } },
  }), [
    { path: '/proxmox/node', message: 'must be a node name (letters, digits and "-")' },
    { path: '/proxmox/cliPath', message: 'must be an absolute path' },
    { path: '/proxmox/apiUrl', message: 'must be an https:// URL' },
    { path: '/proxmox/tokenId', message: 'must be an API token id: USER@REALM!TOKENID' },
    { path: '/proxmox/timeoutSeconds', message: 'must be greater than 0' },
    { path: '/proxmox/vm/kernel', message: 'must be an absolute path' },
    { path: '/proxmox/vm/memory', message: 'must be at least 64' },
  ]);
  assert.equal(MIN_VM_MEMORY_MIB, PROXMOX_VM_SETTINGS_MINIMUMS.memory, 'the VM plan refuses below the schema\'s minimum');
});

test('both backends resolve through the same resolver: the same values, each adding only what it needs on the node', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-settings-'));
  try {
    for (const tool of ['pct', 'pvesm', 'qm']) fs.writeFileSync(path.join(dir, tool), '#!/bin/sh\n', { mode: 0o755 });
    const config = { proxmox: { node: 'pve1', cliPath: dir, lxcPath: dir, pveDir: dir, timeoutSeconds: 7, storage: 'tank', vm: { memory: 512 } } };
    const common = resolveProxmoxSettings(config).settings;
    const lxc = resolveLxcSettings(config);
    const vm = resolveVmSettings(config);
    assert.deepEqual(lxc, { settings: common, problems: [] });
    assert.deepEqual(vm.problems, []);
    const { cacheDir: _cache, runBase: _run, ...vmCommon } = vm.settings ?? { cacheDir: '', runBase: '' };
    assert.deepEqual(vmCommon, common);
    assert.equal(vm.settings?.vm.memoryMiB, 512);

    fs.rmSync(path.join(dir, 'qm'));
    assert.deepEqual(resolveVmSettings(config).problems, [`proxrun config: proxmox.cliPath: ${dir} has no executable qm`]);
    assert.deepEqual(resolveLxcSettings({ proxmox: { ...config.proxmox, lxcPath: path.join(dir, 'none') } }).problems, [
      `proxrun config: proxmox.lxcPath: ${path.join(dir, 'none')} is not a directory on this node`,
    ]);
    assert.match(resolveVmSettings({ proxmox: { ...config.proxmox, transport: 'api', apiUrl: 'https://h', tokenId: 'root@pam!x', tokenSecretFile: '/x' } }).problems[0] ?? '', /proxmox\.transport: the proxmox-vm backend needs "cli"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the client is built from the same resolved settings (its timeout is the resolver\'s)', () => {
  assert.throws(() => createProxmoxClient({ node: 'pve1', vmidRange: [2000, 1000] }), /^Error: proxrun config: proxmox\.vmidRange: lowest 2000 is above highest 1000$/);
  const client = createProxmoxClient(undefined, { hostName: 'pve9' });
  assert.equal(client.node, 'pve9');
  assert.equal(client.transport, 'cli');
});
