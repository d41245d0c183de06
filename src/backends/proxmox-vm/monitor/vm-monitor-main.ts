/**
 * The per-VM monitor: a small Node process whose pid goes into the pid file. It inherits the
 * engine's fds 1 and 2, holds the host end of the guest's three virtio-console ports
 * (GuestChannel), and
 *  - relays the payload's stdout and stderr to its own fds 1 and 2, each apart;
 *  - writes `ready` once the guest waits at its start gate;
 *  - takes `start` and `signal N` on its command socket (from `proxrun start` / `kill`), and
 *    forwards the catchable signals it receives itself as `signal N`;
 *  - records the payload's exit status and exits with it, re-raising the signal when the payload
 *    died of one (so the engine sees 128+N); QEMU gone without an exit line is SIGKILL (137).
 * It is loaded by `node -e` through VM_MONITOR_MODULE (monitor-spawn.ts), never by the CLI.
 */
import { rename, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { GuestChannel } from '../guest/index.js';
import { exitStatusFile, monitorErrorFile, monitorSocketPath, readyFile } from './vm-dir.js';

export const VM_MONITOR_MODULE = import.meta.url;

/** Signals the monitor catches and passes to the payload (SIGKILL and SIGSTOP cannot be caught). */
const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGWINCH', 'SIGCONT'] as const;
/** Whose default action does not end a process: re-raising them would not end the monitor. */
const NOT_TERMINATING = new Set(['SIGCHLD', 'SIGCONT', 'SIGURG', 'SIGWINCH', 'SIGSTOP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU']);
const SIGKILL_STATUS = 137;
const CONNECT_TIMEOUT_MS = 60_000;

async function writeAtomically(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text, { mode: 0o644 });
  await rename(`${file}.tmp`, file);
}

function signalName(signal: number): NodeJS.Signals | undefined {
  const entry = Object.entries(os.constants.signals).find(([, value]) => value === signal);
  return entry?.[0] as NodeJS.Signals | undefined;
}

function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/** Serves `start` and `signal N` (one line each, answered `ok` or `error MSG`). */
function serveCommands(vmDir: string, channel: GuestChannel, ready: Promise<void>): net.Server {
  const server = net.createServer((socket) => {
    socket.setEncoding('utf8');
    let text = '';
    socket.on('data', (chunk: string) => {
      text += chunk;
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      const [word, argument] = text.slice(0, newline).trim().split(/\s+/);
      text = '';
      try {
        if (word === 'start') {
          // A start before the gate waits for it; the guest reads its control port only there.
          void ready.then(() => channel.start()).catch(() => undefined);
        } else if (word === 'signal' && /^\d+$/.test(argument ?? '')) {
          channel.signal(Number(argument));
        } else {
          throw new Error(`unknown command ${JSON.stringify(word)}`);
        }
        socket.end('ok\n');
      } catch (error) {
        socket.end(`error ${(error as Error).message}\n`);
      }
    });
    socket.on('error', () => undefined);
  });
  server.on('error', (error: Error) => {
    // Without its command socket the monitor cannot start or signal the guest: record why, for
    // create to report on one line, and end as a killed container would.
    const reason = `monitor command socket ${monitorSocketPath(vmDir)}: ${error.message}`;
    void writeAtomically(monitorErrorFile(vmDir), `${reason}\n`)
      .then(() => writeAtomically(exitStatusFile(vmDir), String(SIGKILL_STATUS)))
      .finally(() => {
        channel.close();
        process.exit(SIGKILL_STATUS);
      });
  });
  server.listen(monitorSocketPath(vmDir));
  return server;
}

export async function runVmMonitor(argv: readonly string[]): Promise<void> {
  const [vmDir] = argv;
  if (vmDir === undefined) throw new Error('usage: vm-monitor VMDIR');
  let channel: GuestChannel;
  try {
    channel = await GuestChannel.connect({ runDir: vmDir, stdout: process.stdout, stderr: process.stderr, connectTimeoutMs: CONNECT_TIMEOUT_MS });
  } catch (error) {
    await writeAtomically(monitorErrorFile(vmDir), `${(error as Error).message}\n`);
    await writeAtomically(exitStatusFile(vmDir), String(SIGKILL_STATUS));
    process.exit(SIGKILL_STATUS);
  }
  const ready = channel.waitReady();
  const server = serveCommands(vmDir, channel, ready);
  for (const name of FORWARDED) {
    process.on(name, () => {
      try {
        channel.signal(os.constants.signals[name]);
      } catch {
        // the guest is gone; the exit follows
      }
    });
  }
  ready.then(() => writeAtomically(readyFile(vmDir), ''), () => undefined);

  let status: number;
  try {
    const exit = await channel.exited;
    status = exit.status;
    for (const line of exit.guestErrors) process.stderr.write(`proxrun: ${line}\n`);
    // Why the guest could not run the payload: create, still waiting for the gate, reports it.
    if (exit.guestErrors.length > 0) await writeAtomically(monitorErrorFile(vmDir), `${exit.guestErrors.join('; ')}\n`);
  } catch (error) {
    status = SIGKILL_STATUS;
    await writeAtomically(monitorErrorFile(vmDir), `${(error as Error).message}\n`).catch(() => undefined);
  }
  await writeAtomically(exitStatusFile(vmDir), String(status));
  server.close();
  channel.close();
  await flush(process.stdout);
  await flush(process.stderr);
  const signal = status > 128 ? signalName(status - 128) : undefined;
  if (signal !== undefined && !NOT_TERMINATING.has(signal)) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    // Still here (a signal Node keeps a handler for): fall through to the plain status.
  }
  process.exit(status);
}
