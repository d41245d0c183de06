/**
 * One QMP command over a VM's monitor socket (`<qemuRunDir>/<vmid>.qmp`), as qemu-server's
 * `mon_cmd` does: connect, read the greeting, `qmp_capabilities`, the command, its answer.
 */
import net from 'node:net';

type QmpValue = null | boolean | number | string | QmpValue[] | { [k: string]: QmpValue };

export class QmpError extends Error {}

/** Runs `command` with `args`; resolves its `return` value, rejects with the QMP error description. */
export function qmpCommand(socketPath: string, command: string, args?: Record<string, QmpValue>, timeoutMs = 5000): Promise<QmpValue> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buffer = '';
    let step: 'greeting' | 'capabilities' | 'command' = 'greeting';
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      fn();
    };
    const timer = setTimeout(() => settle(() => reject(new QmpError(`got timeout talking to QMP at ${socketPath}`))), timeoutMs);
    sock.on('error', (err) => settle(() => reject(new QmpError(`unable to connect to VM QMP socket - ${err.message}`))));
    sock.on('close', () => settle(() => (command === 'quit' && step === 'command' ? resolve(null) : reject(new QmpError('QMP socket closed')))));
    sock.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line === '') continue;
        const msg = JSON.parse(line) as { QMP?: unknown; return?: QmpValue; error?: { desc?: string }; event?: string };
        if (msg.event !== undefined) continue;
        if (step === 'greeting' && msg.QMP !== undefined) {
          step = 'capabilities';
          sock.write(`${JSON.stringify({ execute: 'qmp_capabilities' })}\n`);
        } else if (step === 'capabilities') {
          if (msg.error) return settle(() => reject(new QmpError(msg.error?.desc ?? 'qmp_capabilities failed')));
          step = 'command';
          sock.write(`${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`);
        } else if (step === 'command') {
          if (msg.error) return settle(() => reject(new QmpError(msg.error?.desc ?? `${command} failed`)));
          return settle(() => resolve(msg.return ?? null));
        }
      }
    });
  });
}
