import { loadRuntime, writeStdout } from './common.js';
import { requirePositionals, type CommandSpec } from './parse.js';

export const state: CommandSpec = {
  name: 'state',
  usage: 'state <container-id>',
  summary: "print a container's state as JSON",
  async run(cmd, globals) {
    const [id] = requirePositionals(cmd, state, 1);
    const result = await (await loadRuntime(globals)).state(id as string);
    await writeStdout(JSON.stringify(result, null, 2) + '\n');
    return 0;
  },
};
