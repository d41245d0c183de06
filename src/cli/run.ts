import { loadRuntime } from './common.js';
import { createOptions } from './create.js';
import { boolFlag, requirePositionals, type CommandSpec } from './parse.js';

export const run: CommandSpec = {
  name: 'run',
  usage: 'run [--bundle DIR] [--detach] [--pid-file FILE] [--console-socket PATH] [--no-pivot] [--no-new-keyring] [--preserve-fds N] <container-id>',
  summary: 'create and start a container; without --detach, wait for it and exit with its status',
  strings: ['bundle', 'pid-file', 'console-socket', 'preserve-fds'],
  booleans: ['no-pivot', 'no-new-keyring', 'detach', 'keep', 'no-subreaper'],
  aliases: { b: 'bundle', d: 'detach' },
  async run(cmd, globals) {
    const [id] = requirePositionals(cmd, run, 1);
    return (await loadRuntime(globals)).run({ ...createOptions(cmd, id as string), detach: boolFlag(cmd, 'detach') });
  },
};
