import fs from 'node:fs';
import { errInvalidArgument } from '../runtime/errors.js';
import { loadRuntime } from './common.js';
import { requirePositionals, stringFlag, type CommandSpec } from './parse.js';

export const update: CommandSpec = {
  name: 'update',
  usage: 'update --resources FILE|- <container-id>',
  summary: "change a container's resource limits (LinuxResources JSON from a file or stdin)",
  strings: ['resources'],
  aliases: { r: 'resources' },
  async run(cmd, globals) {
    const [id] = requirePositionals(cmd, update, 1);
    const source = stringFlag(cmd, 'resources');
    if (!source) throw errInvalidArgument('update: --resources FILE|- is required');
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(source === '-' ? 0 : source);
    } catch (err) {
      throw errInvalidArgument(`update: cannot read --resources ${source}: ${(err as Error).message}`);
    }
    try {
      const doc: unknown = JSON.parse(bytes.toString('utf8'));
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not a JSON object');
    } catch (err) {
      throw errInvalidArgument(`update: --resources ${source}: invalid LinuxResources JSON: ${(err as Error).message}`);
    }
    await (await loadRuntime(globals)).update(id as string, bytes);
    return 0;
  },
};
