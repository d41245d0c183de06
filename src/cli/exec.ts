import { errInvalidArgument } from '../runtime/errors.js';
import { loadRuntime } from './common.js';
import { arrayFlag, boolFlag, intFlag, stringFlag, type CommandSpec } from './parse.js';

export const exec: CommandSpec = {
  name: 'exec',
  usage: 'exec [--process FILE | flags] [--detach --pid-file FILE] [--tty --console-socket PATH] <container-id> [command [args...]]',
  summary: 'run a process in a running container; exits with its status unless --detach',
  strings: ['process', 'pid-file', 'console-socket', 'cwd', 'user', 'apparmor', 'process-label', 'preserve-fds', 'cgroup', 'pidfd-socket'],
  booleans: ['detach', 'tty', 'no-new-privs', 'ignore-paused'],
  arrays: ['env', 'additional-gids', 'cap'],
  aliases: { p: 'process', d: 'detach', t: 'tty', e: 'env', u: 'user', g: 'additional-gids', c: 'cap' },
  stopAfterPositionals: 1,
  async run(cmd, globals) {
    const id = cmd.positionals[0];
    if (id === undefined) throw errInvalidArgument(`exec: container id missing (usage: proxrun ${exec.usage})`);
    const processFile = stringFlag(cmd, 'process');
    if (!processFile && cmd.rest.length === 0) throw errInvalidArgument('exec: give a command after the container id, or --process FILE');
    const runtime = await loadRuntime(globals);
    const status = await runtime.exec(id, {
      processFile,
      args: cmd.rest,
      detach: boolFlag(cmd, 'detach'),
      pidFile: stringFlag(cmd, 'pid-file'),
      tty: boolFlag(cmd, 'tty'),
      consoleSocket: stringFlag(cmd, 'console-socket'),
      env: arrayFlag(cmd, 'env'),
      cwd: stringFlag(cmd, 'cwd'),
      user: stringFlag(cmd, 'user'),
      additionalGids: arrayFlag(cmd, 'additional-gids'),
      caps: arrayFlag(cmd, 'cap'),
      noNewPrivs: boolFlag(cmd, 'no-new-privs'),
      preserveFds: intFlag(cmd, 'preserve-fds'),
      apparmor: stringFlag(cmd, 'apparmor'),
      processLabel: stringFlag(cmd, 'process-label'),
    });
    return status;
  },
};
