import { errInvalidArgument } from '../runtime/errors.js';
import { loadRuntime } from './common.js';
import { requirePositionals, stringFlag, type CommandSpec } from './parse.js';

export const ps: CommandSpec = {
  name: 'ps',
  usage: 'ps [--format table|json] <container-id> [ps options]',
  summary: "list a container's processes (json: an array of host pids)",
  strings: ['format'],
  aliases: { f: 'format' },
  stopAfterPositionals: 1,
  async run(cmd, globals) {
    const [id] = requirePositionals(cmd, ps, 1);
    const format = stringFlag(cmd, 'format') ?? 'table';
    if (format !== 'table' && format !== 'json') throw errInvalidArgument(`invalid format ${JSON.stringify(format)}: must be table or json`);
    await (await loadRuntime(globals)).ps(id as string, format, cmd.rest);
    return 0;
  },
};
