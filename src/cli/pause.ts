import { loadRuntime } from './common.js';
import { requirePositionals, type CommandSpec } from './parse.js';

export const pause: CommandSpec = {
  name: 'pause',
  usage: 'pause <container-id>',
  summary: "freeze all of a container's processes",
  async run(cmd, globals) {
    const [id] = requirePositionals(cmd, pause, 1);
    await (await loadRuntime(globals)).pause(id as string);
    return 0;
  },
};
