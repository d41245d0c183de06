import type { GlobalOptions } from '../runtime/backend.js';
import type { Runtime } from '../runtime/lifecycle.js';

/** The runtime library, loaded only when a command needs it (start-up cost is paid on every call). */
export async function loadRuntime(globals: GlobalOptions): Promise<Runtime> {
  const { Runtime: RuntimeClass } = await import('../runtime/lifecycle.js');
  return new RuntimeClass(globals);
}

/** Writes to stdout and resolves once the data is handed to the OS (pipes are asynchronous in Node). */
export function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (err) => (err ? reject(err) : resolve()));
  });
}
