/**
 * `proxrun start` and `kill` talk to a VM's monitor over its command socket: one line out
 * (`start`, `signal N`), one line back (`ok` or `error MSG`).
 */
import net from 'node:net';
import { monitorSocketPath } from './vm-dir.js';

const REPLY_TIMEOUT_MS = 10_000;

export function sendMonitorCommand(vmDir: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(monitorSocketPath(vmDir));
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the VM monitor did not answer ${JSON.stringify(command)} within ${REPLY_TIMEOUT_MS} ms`));
    }, REPLY_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (text: string) => { reply += text; });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the VM monitor: ${error.message}`));
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const line = reply.trim();
      if (line === 'ok') resolve();
      else reject(new Error(`the VM monitor refused ${JSON.stringify(command)}: ${line || 'no answer'}`));
    });
  });
}
