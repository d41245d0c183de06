import { loadRuntime } from './common.js';
import { requirePositionals, type CommandSpec } from './parse.js';

export const resume: CommandSpec = {
  name: 'resume',
  usage: 'resume <container-id>',
  summary: 'thaw a paused container',
  async run(cmd, globals) {
    const [id] = requirePositionals(cmd, resume, 1);
    await (await loadRuntime(globals)).resume(id as string);
    return 0;
  },
};
