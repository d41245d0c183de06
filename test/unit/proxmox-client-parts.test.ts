import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProxmoxError } from '../../src/proxmox/client.js';
import { isTaskSuccess, parseUpid, waitForTask, type TaskStatusReply } from '../../src/proxmox/tasks.js';
import { cliErrorDetail, cliOptions } from '../../src/proxmox/cli-run.js';
import { encodeParams, errorDetail } from '../../src/proxmox/api-request.js';
import { readTokenSecret } from '../../src/proxmox/token-secret.js';
import { apiBaseUrl, createProxmoxClient } from '../../src/proxmox/index.js';
import { checkVmidRange, isVmidTaken } from '../../src/proxmox/vmid.js';
import { checkUploadName } from '../../src/proxmox/upload-name.js';

test('UPIDs parse into their fields; other strings do not', () => {
  assert.deepEqual(parseUpid('UPID:pve:0003A1B2:00C0FFEE:6760A1B2:vzcreate:100:root@pam!tok:'), {
    node: 'pve', pid: 0x3a1b2, pstart: 0xc0ffee, starttime: 0x6760a1b2, type: 'vzcreate', id: '100', user: 'root@pam!tok',
  });
  assert.equal(parseUpid('UPID:pve:0003A1B2:100C0FFEE:6760A1B2:imgcopy::root@pam:')?.pstart, 0x100c0ffee);
  assert.equal(parseUpid('UPID:pve:0003A1B2:00C0FFEE:6760A1B2:vzcreate:100:root@pam'), undefined);
  assert.equal(parseUpid('hello'), undefined);
});

test('task success is OK or WARNINGS: n only', () => {
  assert.equal(isTaskSuccess('OK'), true);
  assert.equal(isTaskSuccess('WARNINGS: 3'), true);
  assert.equal(isTaskSuccess('unexpected status'), false);
  assert.equal(isTaskSuccess('unable to create CT 100 - boom'), false);
});

test('waitForTask polls until stopped, on the UPID node, and fails with the exit status', async () => {
  const upid = 'UPID:pve7:0003A1B2:00C0FFEE:6760A1B2:vzstart:100:root@pam:';
  const seen: string[] = [];
  let calls = 0;
  const read = async (node: string): Promise<TaskStatusReply> => {
    seen.push(node);
    calls += 1;
    return calls < 3 ? { status: 'running' } : { status: 'stopped', exitstatus: 'startup for container failed' };
  };
  await assert.rejects(waitForTask(upid, read, { step: 'start CT 100', deadline: Date.now() + 5000, timeoutSeconds: 5, firstIntervalMs: 1 }), (err: unknown) => {
    assert.ok(err instanceof ProxmoxError);
    assert.equal(err.step, 'start CT 100');
    assert.equal(err.message, 'proxmox start CT 100: startup for container failed');
    return true;
  });
  assert.deepEqual(seen, ['pve7', 'pve7', 'pve7']);
  await assert.rejects(
    waitForTask(upid, async () => ({ status: 'running' }), { step: 'stop CT 100', deadline: Date.now() + 30, timeoutSeconds: 1, firstIntervalMs: 5 }),
    /proxmox stop CT 100: timed out after 1 s/,
  );
  await waitForTask(upid, async () => ({ status: 'stopped', exitstatus: 'WARNINGS: 1' }), { step: 's', deadline: Date.now() + 1000, timeoutSeconds: 1 });
});

test('CLI failures become one line without the generic 400 header', () => {
  assert.equal(cliErrorDetail('400 Parameter verification failed.\nvmid: VM 100 already exists\n', ''), 'vmid: VM 100 already exists');
  assert.equal(cliErrorDetail('', 'extracting\nTASK ERROR: boom\n'), 'boom');
  assert.equal(cliErrorDetail("CT 100 already exists on node 'pve1'\n", ''), "CT 100 already exists on node 'pve1'");
  assert.deepEqual(cliOptions({ force: true, purge: false, memory: 64, hostname: 'a' }), ['--force', '1', '--purge', '0', '--memory', '64', '--hostname', 'a']);
});

test('API errors: 400 lists the parameters, others give the message or the reason phrase', () => {
  assert.equal(errorDetail(400, 'Parameter verification failed.', { errors: { memory: 'value must have a minimum value of 16\n', vmid: 'x' }, message: 'Parameter verification failed.\n' }), 'memory: value must have a minimum value of 16; vmid: x');
  assert.equal(errorDetail(500, 'CT 100 already exists', { message: "CT 100 already exists on node 'pve1'\n" }), "CT 100 already exists on node 'pve1'");
  assert.equal(errorDetail(401, 'No ticket', undefined), 'No ticket');
  assert.equal(encodeParams({ a: true, b: 'x y', c: 3 }), 'a=1&b=x+y&c=3');
});

test('the token secret file must be 0600 or stricter, and its content never shows in errors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-secret-'));
  try {
    const file = path.join(dir, 'token');
    fs.writeFileSync(file, 'sekrit-value-123\n', { mode: 0o600 });
    assert.equal(readTokenSecret(file), 'sekrit-value-123');
    fs.chmodSync(file, 0o400);
    assert.equal(readTokenSecret(file), 'sekrit-value-123');
    fs.chmodSync(file, 0o644);
    assert.throws(() => readTokenSecret(file), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /proxmox\.tokenSecretFile .* has mode 0644; it must be 0600 or stricter/);
      assert.doesNotMatch(err.message, /sekrit/);
      return true;
    });
    assert.throws(() => readTokenSecret(path.join(dir, 'none')), /proxmox\.tokenSecretFile .* cannot be read \(ENOENT\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the token secret file must be root\'s alone: no other owner, no open folder, no symbolic link', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-secret-'));
  const refused = (file: string, message: string): void => {
    assert.throws(() => readTokenSecret(file), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.equal(err.message, message);
      assert.doesNotMatch(err.message, /sekrit/);
      return true;
    });
  };
  try {
    const good = path.join(dir, 'token');
    fs.writeFileSync(good, 'sekrit-value-123\n', { mode: 0o600 });
    assert.equal(readTokenSecret(good), 'sekrit-value-123');

    const foreign = path.join(dir, 'foreign');
    fs.writeFileSync(foreign, 'sekrit-value-123\n', { mode: 0o600 });
    fs.chownSync(foreign, 65534, 65534);
    refused(foreign, `proxrun config: proxmox.tokenSecretFile ${foreign} belongs to uid 65534; it must belong to uid 0 (chown 0 ${foreign})`);

    const link = path.join(dir, 'link');
    fs.symlinkSync(good, link);
    refused(link, `proxrun config: proxmox.tokenSecretFile ${link} is a symbolic link; name the file itself`);

    for (const mode of [0o777, 0o1777, 0o755]) {
      const open = path.join(dir, `open-${mode.toString(8)}`);
      fs.mkdirSync(open);
      fs.chmodSync(open, mode);
      const inOpen = path.join(open, 'token');
      fs.writeFileSync(inOpen, 'sekrit-value-123\n', { mode: 0o600 });
      refused(inOpen, `proxrun config: proxmox.tokenSecretFile ${inOpen}: its folder ${open} has mode ${mode.toString(8).padStart(4, '0')}; it must give group and others no access (chmod 700 ${open})`);
    }

    const theirs = path.join(dir, 'theirs');
    fs.mkdirSync(theirs, { mode: 0o700 });
    const inTheirs = path.join(theirs, 'token');
    fs.writeFileSync(inTheirs, 'sekrit-value-123\n', { mode: 0o600 });
    fs.chownSync(theirs, 65534, 65534);
    refused(inTheirs, `proxrun config: proxmox.tokenSecretFile ${inTheirs}: refusing ${theirs}: ${theirs} belongs to uid 65534, not to uid 0`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('config errors name the missing or bad setting', () => {
  assert.throws(() => createProxmoxClient({ transport: 'api', node: 'pve1' }), /^Error: proxrun config: proxmox\.apiUrl is required for transport "api"$/);
  assert.throws(() => createProxmoxClient({ transport: 'api', node: 'pve1', apiUrl: 'https://h:8006' }), /proxmox\.tokenId is required for transport "api"/);
  assert.throws(() => createProxmoxClient({ transport: 'api', node: 'pve1', apiUrl: 'https://h:8006', tokenId: 'root@pam!x' }), /proxmox\.tokenSecretFile is required for transport "api"/);
  assert.throws(() => createProxmoxClient({ transport: 'api', node: 'pve1', apiUrl: 'http://h:8006', tokenId: 'root@pam!x', tokenSecretFile: '/x' }), /proxmox\.apiUrl must start with https/);
  assert.throws(() => createProxmoxClient({ transport: 'api', node: 'pve1', apiUrl: 'https://h', tokenId: 'root', tokenSecretFile: '/x' }), /proxmox\.tokenId must look like USER@REALM!TOKENID/);
  assert.throws(() => createProxmoxClient({ transport: 'api', node: 'pve1', apiUrl: 'https://h', tokenId: 'root@pam!x', tokenSecretFile: '/x', fingerprint: 'AB:CD' }), /proxmox\.fingerprint must be/);
  assert.throws(() => createProxmoxClient({ transport: 'cli', node: 'pve1', cliPath: 'usr/sbin' }), /proxmox\.cliPath must be an absolute path/);
  assert.throws(() => createProxmoxClient({ node: 'bad_node!' }), /proxmox\.node "bad_node!" is not a valid node name/);
  assert.throws(() => createProxmoxClient({ node: 'pve1', timeoutSeconds: 0 }), /proxmox\.timeoutSeconds must be a positive number/);
  const cli = createProxmoxClient({ node: 'pve1', cliPath: '/usr/sbin' });
  assert.equal(cli.transport, 'cli');
  assert.equal(cli.node, 'pve1');
  assert.equal(apiBaseUrl('https://pve1:8006').href, 'https://pve1:8006/api2/json');
  assert.equal(apiBaseUrl('https://pve1:8006/api2/json/').href, 'https://pve1:8006/api2/json');
});

test('VMID ranges and "already exists" detection', () => {
  assert.deepEqual(checkVmidRange([100000, 199999]), [100000, 199999]);
  assert.throws(() => checkVmidRange([99, 200]), /proxmox\.vmidRange must be/);
  assert.throws(() => checkVmidRange([300, 200]), /proxmox\.vmidRange must be/);
  assert.equal(isVmidTaken(new ProxmoxError('create CT 5', "CT 100 already exists on node 'pve1'")), true);
  assert.equal(isVmidTaken(new ProxmoxError('nextid 5', 'vmid: VM 100 already exists')), true);
  assert.equal(isVmidTaken(new ProxmoxError('create CT 5', "volume 'local:x' already exists")), false);
  assert.equal(isVmidTaken(new Error('CT 100 already exists')), false);
});

test('upload names must be one safe name with the right extension', () => {
  checkUploadName('vztmpl', 'proxrun-abc.tar');
  checkUploadName('vztmpl', 'x.tar.zst');
  assert.throws(() => checkUploadName('vztmpl', '../x.tar'), /filename "..\/x.tar" must be one name/);
  assert.throws(() => checkUploadName('vztmpl', 'x.qcow2'), /wrong extension for content vztmpl/);
});
