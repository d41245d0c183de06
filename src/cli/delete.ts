import { errNotExist, RuntimeError } from '../runtime/errors.js';
import { loadRuntime } from './common.js';
import { boolFlag, requirePositionals, type CommandSpec } from './parse.js';

export const del: CommandSpec = {
  name: 'delete',
  usage: 'delete [--force] <container-id>',
  summary: 'delete a stopped container and everything create made; --force stops it first',
  booleans: ['force'],
  aliases: { f: 'force' },
  async run(cmd, globals) {
    const [id] = requirePositionals(cmd, del, 1);
    const force = boolFlag(cmd, 'force');
    try {
      await (await loadRuntime(globals)).delete(id as string, force);
    } catch (err) {
      // runc: deleting a container that is not there is fine when forced.
      if (force && err instanceof RuntimeError && err.code === errNotExist().code) return 0;
      throw err;
    }
    return 0;
  },
};
