/**
 * Locks that name their holder (src/lib/owned-lock.ts) and processes named by pid and start time
 * (src/lib/proc.ts): a lock whose holder was SIGKILLed is taken over without waiting for
 * proper-lockfile's 30 s staleness (the wait allowed here is far shorter), a live holder is waited
 * for, and a recorded process is recognised and stopped, never a reused pid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { holderIsDead, withOwnedLock } from '../../src/lib/owned-lock.js';
import { isRunning, processStartTime, stopProcess } from '../../src/lib/proc.js';
import { pollFor } from '../helpers/exec.js';

const LOCK_MODULE = fileURLToPath(new URL('../../src/lib/owned-lock.ts', import.meta.url));

/** A child process that takes the lock, says "held" and keeps it until killed. */
function holder(lockDir: string): Promise<{ pid: number }> {
  const script = `const { withOwnedLock } = await import(${JSON.stringify(LOCK_MODULE)});
await withOwnedLock(${JSON.stringify(lockDir)}, { waitMs: 10000, describe: (r) => new Error(r) }, async () => {
  process.stdout.write('held\\n');
  await new Promise(() => setInterval(() => undefined, 1 << 30));
});`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before holding the lock`)));
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('held')) resolve({ pid: child.pid ?? 0 });
    });
  });
}

test('a lock whose holder was killed is taken over at once; a live holder is waited for', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-lock-'));
  const lockDir = path.join(dir, 'c1.lock');
  try {
    const { pid } = await holder(lockDir);
    assert.equal(holderIsDead(lockDir), false);
    await assert.rejects(
      withOwnedLock(lockDir, { waitMs: 300, describe: (r) => new Error(r) }, async () => 'got it'),
      { message: `timed out after 0.3 s waiting for ${lockDir}` },
    );
    process.kill(pid, 'SIGKILL');
    await new Promise((resolve) => {
      const poll = (): void => void (holderIsDead(lockDir) ? resolve(undefined) : setTimeout(poll, 20));
      poll();
    });
    // proper-lockfile alone would wait 30 s for the lock to go stale; 5 s are allowed here.
    assert.equal(await withOwnedLock(lockDir, { waitMs: 5000, describe: (r) => new Error(r) }, async () => {
      assert.match(fs.readFileSync(path.join(lockDir, 'owner'), 'utf8'), new RegExp(`^${process.pid} \\d+\\n$`));
      return 'got it';
    }), 'got it');
    assert.equal(fs.existsSync(lockDir), false, 'the lock folder and its owner file are gone after release');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a process is named by pid and start time: a reused pid is not it, and it can be stopped', async () => {
  const own = processStartTime(process.pid);
  assert.ok(own !== undefined && own > 0);
  assert.equal(isRunning(process.pid, own), true);
  assert.equal(isRunning(process.pid, own + 1), false, 'another start time is another process');
  // A child that ignores SIGTERM: stopping it takes SIGKILL after the grace period.
  const child = spawn('sh', ['-c', 'trap "" TERM; echo up; while :; do sleep 1; done'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  const pid = child.pid ?? 0;
  const start = processStartTime(pid);
  assert.ok(start !== undefined);
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  await stopProcess(pid, start, 200);
  assert.equal(await exited, 'SIGKILL');
  assert.equal(isRunning(pid, start), false);
});

test('a lock held longer than proper-lockfile\'s update interval stays its holder\'s (the owner file does not upset its mtime check)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxrun-lock-'));
  const lockDir = path.join(dir, 'long.lock');
  try {
    const lockfile = (await import('proper-lockfile')).default;
    await withOwnedLock(lockDir, { waitMs: 1000, describe: (r) => new Error(r) }, async () => {
      const mtime = fs.statSync(lockDir).mtimeMs;
      // proper-lockfile's update (every 10 s) compares the folder's mtime with the one it set, and
      // refreshes it, or (had the owner file changed it) declares the lock compromised and throws.
      await pollFor(() => (fs.statSync(lockDir).mtimeMs !== mtime ? true : undefined), { timeoutMs: 30_000, intervalMs: 200, description: 'proper-lockfile refreshing the lock' });
      assert.equal(await lockfile.check(lockDir, { realpath: false, lockfilePath: lockDir, stale: 30_000 }), true);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
