import { BACKEND_NAME_VALUES, PROXRUN_CONFIG_DEFAULTS } from '../oci/generated/proxrun-config-constants.js';
import { SPEC_VERSION } from '../oci/version.js';
import { ChildExit, RuntimeError } from '../runtime/errors.js';
import { configureLog, logError } from '../runtime/log.js';
import { checkpoint } from './checkpoint.js';
import { create } from './create.js';
import { del } from './delete.js';
import { exec } from './exec.js';
import { features } from './features.js';
import { kill } from './kill.js';
import { list } from './list.js';
import { parseCommandArgs, parseGlobals, type CommandSpec } from './parse.js';
import { pause } from './pause.js';
import { ps } from './ps.js';
import { restore } from './restore.js';
import { resume } from './resume.js';
import { run } from './run.js';
import { spec } from './spec.js';
import { start } from './start.js';
import { state } from './state.js';
import { update } from './update.js';
import { validate } from './validate.js';

declare const __PROXRUN_VERSION__: string;
declare const __PROXRUN_COMMIT__: string;

const COMMANDS: readonly CommandSpec[] = [
  create, start, state, kill, del, ps, exec, pause, resume, update, features, spec, list, run, validate, checkpoint, restore,
];

function versionText(): string {
  const version = typeof __PROXRUN_VERSION__ === 'string' ? __PROXRUN_VERSION__ : 'dev';
  const commit = typeof __PROXRUN_COMMIT__ === 'string' ? __PROXRUN_COMMIT__ : 'unknown';
  return `proxrun version ${version}\ncommit: ${commit}\nspec: ${SPEC_VERSION}\n`;
}

function helpText(): string {
  const lines = [
    'proxrun: an OCI runtime with runc\'s command line; runs each container on the backend named by',
    `the annotation io.proxrun.backend (${BACKEND_NAME_VALUES.join(', ')}), else by defaultBackend in`,
    `the proxrun config, else ${PROXRUN_CONFIG_DEFAULTS.defaultBackend}.`,
    '',
    'usage: proxrun [global flags] <command> [flags] <container-id> ...',
    '',
    'global flags: --root DIR (default /run/proxrun), --log FILE, --log-format text|json,',
    '              --systemd-cgroup, --debug, --rootless VALUE, --version/-v, --help/-h',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(11)} ${c.summary}`),
  ];
  return lines.join('\n') + '\n';
}

/** Reports a failure the way runc does: one clean line on stderr and one error line in the --log file. */
async function report(err: unknown): Promise<number> {
  if (err instanceof ChildExit) return err.exitCode;
  const message = err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err);
  await logError(message).catch(() => undefined);
  process.stderr.write(message + '\n');
  return err instanceof RuntimeError ? err.exitCode : 1;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    const parsed = parseGlobals(argv);
    configureLog({ file: parsed.globals.log, format: parsed.globals.logFormat, debug: parsed.globals.debug });
    if (parsed.version) {
      process.stdout.write(versionText());
      return 0;
    }
    if (parsed.command === undefined) {
      process.stdout.write(helpText());
      return parsed.help ? 0 : 1;
    }
    const command = COMMANDS.find((c) => c.name === parsed.command);
    if (!command) throw new RuntimeError('InvalidArgument', `unknown command "${parsed.command}" (see proxrun --help)`);
    const args = parseCommandArgs(command, parsed.commandArgs);
    if (args.flags.help === true && command !== checkpoint && command !== restore) {
      process.stdout.write(`usage: proxrun ${command.usage}\n\n${command.summary}\n`);
      return 0;
    }
    return await command.run(args, parsed.globals);
  } catch (err) {
    return report(err);
  }
}

process.exitCode = await main(process.argv.slice(2));
