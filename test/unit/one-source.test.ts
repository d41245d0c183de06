/**
 * Each name, default and version is written once: backend names and container statuses come from
 * the schemas' enums, the default backend from the schema's default, the spec version from
 * src/oci/version.ts, and what reads them (the loader, the runtime's messages, the state JSON,
 * --version, features) uses that one source. Also the pieces both Proxmox backends share
 * (Findings, the ps output).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { BACKEND_NAMES, isBackendName, loadBackend } from '../../src/runtime/backend-loader.js';
import { DEFAULT_BACKEND, Runtime } from '../../src/runtime/lifecycle.js';
import { buildState } from '../../src/runtime/oci-state.js';
import { CONTAINER_STATUS_VALUES } from '../../src/oci/generated/state-constants.js';
import { SPEC_VERSION, SPEC_VERSION_MIN } from '../../src/oci/version.js';
import { validateStateSchema } from '../../src/oci/schema-validate.js';
import type { Spec } from '../../src/oci/spec.js';
import { Findings } from '../../src/backends/shared/findings.js';
import { formatPidList } from '../../src/backends/shared/ps-output.js';
import { PROXRUN_BIN, requireBuilt } from '../helpers/proxrun.js';
import { execFileSync } from 'node:child_process';

const configSchema = JSON.parse(fs.readFileSync(new URL('../../schemas/proxrun-config.schema.json', import.meta.url), 'utf8')) as {
  properties: { defaultBackend: { default: string } };
  definitions: { BackendName: { enum: string[] } };
};
const stateSchema = JSON.parse(fs.readFileSync(new URL('../../schemas/oci-state.schema.json', import.meta.url), 'utf8')) as {
  properties: { status: { enum: string[] } };
};

test('backend names: the schema\'s enum is the list the loader knows, and each name loads', async () => {
  assert.deepEqual([...BACKEND_NAMES], configSchema.definitions.BackendName.enum);
  for (const name of BACKEND_NAMES) {
    assert.ok(isBackendName(name));
    assert.equal((await loadBackend(name)).name, name);
  }
  assert.equal(isBackendName('docker'), false);
  assert.equal(DEFAULT_BACKEND, configSchema.properties.defaultBackend.default);
});

test('an unknown backend in the annotation is refused naming the schema\'s list', () => {
  const runtime = new Runtime({ root: '/nonexistent', logFormat: 'text', systemdCgroup: false, debug: false });
  const spec = { ociVersion: '1.0.2', annotations: { 'io.proxrun.backend': 'docker' } } as Spec;
  assert.throws(() => runtime.chooseBackend(spec, {}), {
    message: `config.json: /annotations/io.proxrun.backend: unknown backend "docker" (known: ${configSchema.definitions.BackendName.enum.join(', ')})`,
  });
});

test('container statuses and the state JSON follow the state schema and the one spec version', () => {
  assert.deepEqual([...CONTAINER_STATUS_VALUES], stateSchema.properties.status.enum);
  const record = { id: 'c1', backend: 'runc' as const, bundle: '/b', rootfs: '/b/rootfs', created: '2026-01-01T00:00:00Z', owner: '', annotations: { a: 'b' }, backendData: {} };
  const state = buildState(record, { status: 'running', pid: 42 });
  assert.equal(state.ociVersion, SPEC_VERSION);
  assert.deepEqual(validateStateSchema(state), []);
  assert.deepEqual(buildState(record, { status: 'stopped', pid: 42 }).pid, 0);
});

test('--version and features report the spec version from the same place', () => {
  requireBuilt();
  assert.match(execFileSync(PROXRUN_BIN, ['--version'], { encoding: 'utf8' }), new RegExp(`^spec: ${SPEC_VERSION.replace(/\./g, '\\.')}$`, 'm'));
  const features = JSON.parse(execFileSync(PROXRUN_BIN, ['features'], { encoding: 'utf8', env: { ...process.env, PROXRUN_CONFIG: '/nonexistent' } })) as Record<string, unknown>;
  assert.equal(features['ociVersionMax'], SPEC_VERSION);
  assert.equal(features['ociVersionMin'], SPEC_VERSION_MIN);
  assert.equal((features['annotations'] as Record<string, string>)['io.proxrun.backends'], BACKEND_NAMES.join(','));
});

test('Findings: a refusal is a problem, or with lenient a warning line naming the path', () => {
  const strict = new Findings(false);
  strict.refuse('/process/terminal', 'is not supported');
  assert.deepEqual(strict.problems, [{ path: '/process/terminal', message: 'is not supported' }]);
  assert.deepEqual(strict.warnings, []);
  const lenient = new Findings(true);
  lenient.refuse('/process/terminal', 'is not supported');
  assert.deepEqual(lenient.problems, []);
  assert.deepEqual(lenient.warnings, ['/process/terminal: is not supported (accepted because lenient is set)']);
});

test('ps output of the Proxmox backends: a PID column, or a JSON array', () => {
  assert.equal(formatPidList('table', [12, 34]), 'PID\n12\n34\n');
  assert.equal(formatPidList('table', []), 'PID\n');
  assert.equal(formatPidList('json', [12, 34]), '[12,34]\n');
});
