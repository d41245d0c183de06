import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { RunningSim, repoRoot } from './sim-harness.js';

let sim: RunningSim;
before(async () => {
  sim = await RunningSim.start('pve1,pve2');
});
after(() => sim?.stop());

test('version and nextid: nextid is a string over the API and a bare number from pvesh', async () => {
  const v = await sim.request('GET', '/version');
  assert.equal(v.status, 200);
  assert.equal((v.json.data as { release: string }).release, '9.1');
  const n = await sim.request('GET', '/cluster/nextid');
  assert.equal(n.json.data, '100');
  const cli = sim.tool('pve1', 'pvesh', ['get', '/cluster/nextid']);
  assert.equal(cli.code, 0);
  assert.equal(cli.stdout, '100\n');
});

test('auth: a bad token gets 401 after the configured delay; tickets need a CSRF token on writes', async () => {
  const t0 = Date.now();
  const bad = await sim.request('GET', '/version', {}, { Authorization: 'PVEAPIToken=root@pam!sim=00000000-0000-0000-0000-000000000000' });
  assert.equal(bad.status, 401);
  assert.ok(Date.now() - t0 >= 300, 'no delay before 401');
  assert.equal((await sim.request('GET', '/version', {}, {})).reason, 'No ticket');
  const wrongPw = await sim.request('POST', '/access/ticket', { username: 'root@pam', password: 'nope' }, {});
  assert.equal(wrongPw.status, 401);
  const ok = await sim.request('POST', '/access/ticket', { username: 'root@pam', password: sim.info.password }, {});
  const { ticket, CSRFPreventionToken } = ok.json.data as { ticket: string; CSRFPreventionToken: string };
  const cookie = { Cookie: `PVEAuthCookie=${encodeURIComponent(ticket)}` };
  assert.equal((await sim.request('GET', '/nodes', {}, cookie)).status, 200);
  assert.equal((await sim.request('PUT', '/nodes/pve1/lxc/999/config', { memory: '64' }, cookie)).status, 401);
  const withCsrf = await sim.request('PUT', '/nodes/pve1/lxc/999/config', { memory: '64' }, { ...cookie, CSRFPreventionToken });
  assert.equal(withCsrf.status, 500);
  assert.equal(withCsrf.json.message, "Configuration file 'nodes/pve1/lxc/999.conf' does not exist\n");
  assert.equal(withCsrf.reason, "Configuration file 'nodes/pve1/lxc/999.conf' does not exist");
});

test('wire shapes: 400 with errors per parameter, 501 for unknown paths', async () => {
  const r = await sim.request('POST', '/nodes/pve1/lxc', { vmid: '100', ostemplate: 'local:vztmpl/x.tar', memory: '8', bogus: '1' });
  assert.equal(r.status, 400);
  assert.deepEqual(r.json, {
    data: null,
    message: 'Parameter verification failed.\n',
    errors: { memory: 'value must have a minimum value of 16', bogus: 'property is not defined in schema and the schema does not allow additional properties' },
  });
  const u = await sim.request('GET', '/nothing/here');
  assert.equal(u.status, 501);
  assert.equal(u.json.message, "Method 'GET /nothing/here' not implemented\n");
});

test('a token is not root@pam: bind mounts are refused with 403', async () => {
  const r = await sim.request('POST', '/nodes/pve1/lxc', { vmid: '150', ostemplate: 'local:vztmpl/x.tar', rootfs: 'local:1', mp0: '/srv,mp=/srv' });
  assert.equal(r.status, 403);
  assert.equal(r.json.message, 'Only root can pass arbitrary filesystem paths.\n');
});

test('tasks: a failing create gives a UPID, then stopped with the error, readable log; the CLI exits 255', async () => {
  const r = await sim.request('POST', '/nodes/pve1/lxc', { vmid: '101', ostemplate: 'local:vztmpl/missing.tar' });
  assert.equal(r.status, 200);
  const upid = r.json.data as string;
  assert.match(upid, /^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:vzcreate:101:root@pam!sim:$/);
  const st = await sim.waitTask('pve1', upid);
  assert.equal(st.exitstatus, "unable to create CT 101 - volume 'local:vztmpl/missing.tar' does not exist");
  const log = await sim.request('GET', `/nodes/pve1/tasks/${encodeURIComponent(upid)}/log`);
  const lines = log.json.data as Array<{ n: number; t: string }>;
  assert.equal(lines[lines.length - 1]?.t, `TASK ERROR: ${st.exitstatus}`);
  assert.equal(lines[0]?.n, 1);
  const cli = sim.tool('pve1', 'pct', ['create', '102', 'local:vztmpl/missing.tar']);
  assert.equal(cli.code, 255);
  assert.match(cli.stderr, /unable to create CT 102 - volume 'local:vztmpl\/missing.tar' does not exist/);
  const bad = await sim.request('GET', '/nodes/pve1/tasks/nope/status');
  assert.deepEqual(bad.json.errors, { upid: 'unable to parse worker upid' });
});

test('config store: a config written by hand is read fresh, PUT honours digest and delete, env folds', async () => {
  const conf = path.join(sim.info.pveDir, 'nodes/pve2/lxc/200.conf');
  fs.writeFileSync(conf, '#hand made\nhostname: hand\nmemory: 256\nrootfs: local:200/vm-200-disk-0.raw,size=1G\nostype: unmanaged\ntags: old\nlxc.environment.runtime: A=1\nlxc.init.cwd: /srv\n');
  const g = await sim.request('GET', '/nodes/pve2/lxc/200/config');
  const data = g.json.data as Record<string, unknown>;
  assert.equal(data['memory'], 256);
  assert.equal(data['env'], 'A=1');
  assert.equal(data['description'], 'hand made\n');
  assert.deepEqual(data['lxc'], [['lxc.init.cwd', '/srv']]);
  const stale = await sim.request('PUT', '/nodes/pve2/lxc/200/config', { memory: '300', digest: '0'.repeat(40) });
  assert.equal(stale.status, 500);
  assert.match(stale.json.message ?? '', /detected modified configuration/);
  const required = await sim.request('PUT', '/nodes/pve2/lxc/200/config', { delete: 'ostype' });
  assert.deepEqual(required.json.errors, { ostype: "unable to delete required option 'ostype'" });
  const put = await sim.request('PUT', '/nodes/pve2/lxc/200/config', { memory: '300', env: 'B=2\0C=3', delete: 'tags', digest: String(data['digest']) });
  assert.equal(put.status, 200, JSON.stringify(put.json));
  const text = fs.readFileSync(conf, 'utf8');
  assert.match(text, /^#hand made\nhostname: hand\nmemory: 300\n/);
  assert.match(text, /lxc.environment.runtime: B=2\nlxc.environment.runtime: C=3\nlxc.init.cwd: \/srv\n/);
  assert.doesNotMatch(text, /tags/);
  assert.match(text, /ostype: unmanaged/);
  const taken = await sim.request('POST', '/nodes/pve1/lxc', { vmid: '200', ostemplate: 'local:vztmpl/x.tar' });
  assert.equal(taken.json.message, "CT 200 already exists on node 'pve2'\n");
  const cfg = sim.tool('pve2', 'pct', ['config', '200']);
  assert.equal(cfg.code, 0);
  assert.match(cfg.stdout, /^#hand made\n/);
  assert.match(cfg.stdout, /memory: 300\n/);
});

test('multi-node: resources list guests of every node, lists are per node, pct list prints the table', async () => {
  const res = await sim.request('GET', '/cluster/resources', { type: 'vm' });
  const ids = (res.json.data as Array<{ id: string; node: string }>).map((r) => `${r.id}@${r.node}`);
  assert.ok(ids.includes('lxc/200@pve2'), ids.join(','));
  const l1 = await sim.request('GET', '/nodes/pve1/lxc');
  assert.deepEqual(l1.json.data, []);
  const l2 = await sim.request('GET', '/nodes/pve2/lxc');
  const ct = (l2.json.data as Array<Record<string, unknown>>)[0];
  assert.equal(ct?.['vmid'], 200);
  assert.equal(ct?.['status'], 'stopped');
  const list = sim.tool('pve2', 'pct', ['list']);
  assert.equal(list.stdout, `${'VMID'.padEnd(10)} ${'Status'.padEnd(10)} ${'Lock'.padEnd(12)} ${'Name'.padEnd(20)}\n${'200'.padEnd(10)} ${'stopped'.padEnd(10)} ${''.padEnd(12)} ${'hand'.padEnd(20)}\n`);
  assert.equal(sim.tool('pve2', 'pct', ['status', '200']).stdout, 'status: stopped\n');
  const exec = sim.tool('pve2', 'pct', ['exec', '200', '--', 'true']);
  assert.equal(exec.code, 255);
  assert.equal(exec.stderr, "container '200' not running!\n");
});

test('qemu config create, read, update, destroy', async () => {
  const c = await sim.request('POST', '/nodes/pve1/qemu', { vmid: '300', name: 'vm300', memory: '256', serial0: 'socket' });
  assert.equal((await sim.waitTask('pve1', c.json.data as string)).exitstatus, 'OK');
  const g = await sim.request('GET', '/nodes/pve1/qemu/300/config');
  assert.equal((g.json.data as Record<string, unknown>)['memory'], 256);
  assert.equal((await sim.request('PUT', '/nodes/pve1/qemu/300/config', { cores: '2' })).status, 200);
  assert.match(fs.readFileSync(path.join(sim.info.pveDir, 'nodes/pve1/qemu-server/300.conf'), 'utf8'), /cores: 2\n/);
  const args = await sim.request('PUT', '/nodes/pve1/qemu/300/config', { args: '-kernel /x' });
  assert.equal(args.status, 403);
  const d = await sim.request('DELETE', '/nodes/pve1/qemu/300');
  assert.equal((await sim.waitTask('pve1', d.json.data as string)).exitstatus, 'OK');
  assert.equal(fs.existsSync(path.join(sim.info.pveDir, 'nodes/pve1/qemu-server/300.conf')), false);
});

test('concurrent creates never hand out one VMID twice', async () => {
  const attempts = await Promise.all(Array.from({ length: 6 }, () => sim.request('POST', '/nodes/pve1/qemu', { vmid: '400', name: 'race' })));
  const winners = attempts.filter((a) => a.status === 200);
  assert.equal(winners.length, 1);
  for (const a of attempts.filter((x) => x.status !== 200)) assert.match(a.json.message ?? '', /^VM 400 already exists on node 'pve1'/);
  await sim.waitTask('pve1', winners[0]?.json.data as string);
  assert.equal((await sim.request('GET', '/cluster/nextid', { vmid: '400' })).status, 400);
});

test('fault injection: API error, task error and CLI error, each used up by --count', async () => {
  const fault = (args: string[]): void => {
    execFileSyncChecked(['fault', '--root', sim.root, ...args]);
  };
  fault(['--match', 'GET /cluster/nextid', '--mode', 'error', '--count', '1', '--message', 'cluster not ready']);
  const e = await sim.request('GET', '/cluster/nextid');
  assert.equal(e.status, 500);
  assert.equal(e.reason, 'cluster not ready');
  assert.equal((await sim.request('GET', '/cluster/nextid')).status, 200);
  fault(['--match', 'task qmcreate', '--mode', 'error', '--count', '1', '--message', 'disk on fire']);
  const c = await sim.request('POST', '/nodes/pve1/qemu', { vmid: '500' });
  assert.equal((await sim.waitTask('pve1', c.json.data as string)).exitstatus, 'disk on fire');
  fault(['--match', 'cli pct list', '--mode', 'error', '--message', 'pct broke']);
  const l = sim.tool('pve1', 'pct', ['list']);
  assert.equal(l.code, 255);
  assert.equal(l.stderr, 'pct broke\n');
  fault(['--clear']);
  assert.equal(sim.tool('pve1', 'pct', ['list']).code, 0);
});

test('every request is recorded with its schema verdict and without secrets', () => {
  const records = sim.requests();
  assert.ok(records.some((r) => r['schema'] === 'failed' && r['path'] === '/nodes/pve1/lxc'));
  assert.ok(records.some((r) => r['source'] === 'cli' && Array.isArray(r['command'])));
  const text = JSON.stringify(records);
  assert.ok(!text.includes(sim.info.password), 'password leaked into requests.jsonl');
  assert.ok(!text.includes(sim.info.tokenSecret), 'token secret leaked into requests.jsonl');
});

function execFileSyncChecked(args: string[]): void {
  execFileSync(path.join(repoRoot, 'scripts/pve-sim'), args, { stdio: 'inherit' });
}
