import { parseSignal } from '../oci/signals.js';
import { errInvalidArgument } from '../runtime/errors.js';
import { loadRuntime } from './common.js';
import { boolFlag, requirePositionals, type CommandSpec } from './parse.js';

export const kill: CommandSpec = {
  name: 'kill',
  usage: 'kill [--all] <container-id> [SIGNAL]',
  summary: "send a signal (default TERM) to a container's process, or with --all to all of them",
  booleans: ['all'],
  aliases: { a: 'all' },
  async run(cmd, globals) {
    const [id, rawSignal] = requirePositionals(cmd, kill, 1, 2);
    let signal: number;
    try {
      signal = parseSignal(rawSignal ?? 'TERM');
    } catch (err) {
      throw errInvalidArgument((err as Error).message);
    }
    await (await loadRuntime(globals)).kill(id as string, signal, boolFlag(cmd, 'all'));
    return 0;
  },
};
