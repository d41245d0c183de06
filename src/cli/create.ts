import { loadRuntime } from './common.js';
import type { CreateOptions } from '../runtime/lifecycle.js';
import { boolFlag, intFlag, requirePositionals, stringFlag, type CommandSpec, type ParsedCommand } from './parse.js';

export const create: CommandSpec = {
  name: 'create',
  usage: 'create [--bundle DIR] [--pid-file FILE] [--console-socket PATH] [--no-pivot] [--no-new-keyring] [--preserve-fds N] <container-id>',
  summary: 'create a container from a bundle; its process waits for start',
  strings: ['bundle', 'pid-file', 'console-socket', 'preserve-fds', 'pidfd-socket'],
  booleans: ['no-pivot', 'no-new-keyring', 'detach'],
  aliases: { b: 'bundle', d: 'detach' },
  async run(cmd, globals) {
    const [id] = requirePositionals(cmd, create, 1);
    await (await loadRuntime(globals)).create(createOptions(cmd, id as string));
    return 0;
  },
};

/** The flags `create` and `run` share. */
export function createOptions(cmd: ParsedCommand, id: string): CreateOptions {
  return {
    id,
    bundle: stringFlag(cmd, 'bundle'),
    pidFile: stringFlag(cmd, 'pid-file'),
    consoleSocket: stringFlag(cmd, 'console-socket'),
    noPivot: boolFlag(cmd, 'no-pivot'),
    noNewKeyring: boolFlag(cmd, 'no-new-keyring'),
    preserveFds: intFlag(cmd, 'preserve-fds'),
  };
}
