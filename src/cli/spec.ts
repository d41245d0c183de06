import fs from 'node:fs';
import path from 'node:path';
import { RuntimeError } from '../runtime/errors.js';
import { boolFlag, requirePositionals, stringFlag, type CommandSpec } from './parse.js';

export const spec: CommandSpec = {
  name: 'spec',
  usage: 'spec [--bundle DIR] [--rootless]',
  summary: 'write a starting config.json into the bundle (default: the current folder)',
  strings: ['bundle'],
  booleans: ['rootless'],
  aliases: { b: 'bundle' },
  async run(cmd) {
    requirePositionals(cmd, spec, 0);
    const bundle = stringFlag(cmd, 'bundle') ?? process.cwd();
    const file = path.join(bundle, 'config.json');
    const { defaultSpec } = await import('../oci/default-spec.js');
    const text = JSON.stringify(defaultSpec({ rootless: boolFlag(cmd, 'rootless') }), null, '\t') + '\n';
    try {
      fs.writeFileSync(file, text, { flag: 'wx', mode: 0o666 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new RuntimeError('Exist', `File ${file} exists. Remove it first`);
      throw new RuntimeError('InvalidArgument', `cannot write ${file}: ${(err as Error).message}`);
    }
    return 0;
  },
};
