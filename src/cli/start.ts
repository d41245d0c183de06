import { loadRuntime } from './common.js';
import { requirePositionals, type CommandSpec } from './parse.js';

export const start: CommandSpec = {
  name: 'start',
  usage: 'start <container-id>',
  summary: "run a created container's process",
  async run(cmd, globals) {
    const [id] = requirePositionals(cmd, start, 1);
    await (await loadRuntime(globals)).start(id as string);
    return 0;
  },
};
