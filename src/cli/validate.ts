import path from 'node:path';
import { errInvalidArgument } from '../runtime/errors.js';
import { loadRuntime, writeStdout } from './common.js';
import { requirePositionals, stringFlag, type CommandSpec } from './parse.js';

/** Checks a config the way create would (schema, spec rules, backend rules) and creates nothing. */
export const validate: CommandSpec = {
  name: 'validate',
  usage: 'validate [--bundle DIR | FILE]',
  summary: 'check a config.json as create would, print every problem, exit 1 when invalid',
  strings: ['bundle'],
  aliases: { b: 'bundle' },
  async run(cmd, globals) {
    const [file] = requirePositionals(cmd, validate, 0, 1);
    const bundleFlag = stringFlag(cmd, 'bundle');
    if (file !== undefined && bundleFlag !== undefined) throw errInvalidArgument('validate: give either --bundle DIR or FILE, not both');
    const bundle = bundleFlag ?? (file !== undefined ? path.dirname(path.resolve(file)) : process.cwd());
    const configFile = file !== undefined ? path.resolve(file) : undefined;
    const label = configFile ?? path.join(path.resolve(bundle), 'config.json');
    const runtime = await loadRuntime(globals);
    const { problems, checked } = await runtime.checkBundle(bundle, configFile);
    const { formatProblem } = await import('../oci/problems.js');
    if (problems.length > 0 || !checked) {
      await writeStdout(problems.map((p) => formatProblem(p, path.basename(label)) + '\n').join(''));
      return 1;
    }
    await writeStdout(`${label}: valid for backend ${checked.backendName}\n`);
    return 0;
  },
};
