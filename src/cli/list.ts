import { errInvalidArgument } from '../runtime/errors.js';
import { loadRuntime, writeStdout } from './common.js';
import { boolFlag, requirePositionals, stringFlag, type CommandSpec } from './parse.js';

export const list: CommandSpec = {
  name: 'list',
  usage: 'list [--format table|json] [--quiet]',
  summary: 'list the containers under --root',
  strings: ['format'],
  booleans: ['quiet'],
  aliases: { f: 'format', q: 'quiet' },
  async run(cmd, globals) {
    requirePositionals(cmd, list, 0);
    const format = stringFlag(cmd, 'format') ?? 'table';
    if (format !== 'table' && format !== 'json') throw errInvalidArgument(`invalid format ${JSON.stringify(format)}: must be table or json`);
    const states = await (await loadRuntime(globals)).list();
    if (boolFlag(cmd, 'quiet')) {
      await writeStdout(states.map((s) => s.id + '\n').join(''));
    } else if (format === 'json') {
      await writeStdout(JSON.stringify(states) + '\n');
    } else {
      const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...states.map((s) => [s.id, String(s.pid ?? 0), s.status, s.bundle, s.created ?? '', s.owner ?? ''])];
      const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
      await writeStdout(rows.map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd((widths[col] ?? 0) + 3))).join('').trimEnd() + '\n').join(''));
    }
    return 0;
  },
};
