import path from 'node:path';
import yargsParser from 'yargs-parser';
import type { GlobalOptions } from '../runtime/backend.js';
import { errInvalidArgument } from '../runtime/errors.js';

/** How one subcommand's flags look; each command file in src/cli/ exports one of these. */
export interface CommandSpec {
  name: string;
  usage: string;
  summary: string;
  strings?: readonly string[];
  booleans?: readonly string[];
  /** Flags that may repeat (`--env A --env B`). */
  arrays?: readonly string[];
  aliases?: Readonly<Record<string, string>>;
  /**
   * Parsing of flags stops after this many positionals: everything later belongs to
   * the container process (`exec ID sh -c ...`) or to ps (`ps ID -ef`).
   */
  stopAfterPositionals?: number;
  /** Runs the command; resolves to the exit status. */
  run(args: ParsedCommand, globals: GlobalOptions): Promise<number>;
}

export interface ParsedCommand {
  flags: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Arguments after the stop point, untouched. */
  rest: string[];
}

export interface ParsedGlobals {
  globals: GlobalOptions;
  help: boolean;
  version: boolean;
  command?: string;
  commandArgs: string[];
}

const GLOBAL_STRINGS = new Set(['root', 'log', 'log-format', 'rootless', 'criu']);
const GLOBAL_BOOLEANS = new Set(['systemd-cgroup', 'debug', 'help', 'version']);
const GLOBAL_SHORT: Readonly<Record<string, string>> = { h: 'help', v: 'version' };

export const DEFAULT_ROOT = '/run/proxrun';

/** `-no-pivot` → `--no-pivot`: Go's flag package takes long flags with one dash, and callers use that. */
export function normalizeDashes(arg: string, longNames: ReadonlySet<string>): string {
  const m = /^-([a-z][a-z0-9-]+)(=.*)?$/.exec(arg);
  if (m && m[1] && m[1].length > 1 && longNames.has(m[1])) return `-${arg}`;
  return arg;
}

/** Splits `[globals...] command [command args...]`; global flags must come before the command. */
export function parseGlobals(argv: readonly string[]): ParsedGlobals {
  const globals: GlobalOptions = { root: DEFAULT_ROOT, logFormat: 'text', systemdCgroup: false, debug: false };
  let help = false;
  let version = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const raw = normalizeDashes(argv[i] ?? '', new Set([...GLOBAL_STRINGS, ...GLOBAL_BOOLEANS]));
    if (!raw.startsWith('-') || raw === '-') break;
    if (raw === '--') {
      i++;
      break;
    }
    const body = raw.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const key = eq >= 0 ? body.slice(0, eq) : body;
    const name = raw.startsWith('--') ? key : (GLOBAL_SHORT[key] ?? key);
    let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (GLOBAL_BOOLEANS.has(name)) {
      const on = value === undefined ? true : parseBool(value, name);
      if (name === 'help') help = on;
      else if (name === 'version') version = on;
      else if (name === 'debug') globals.debug = on;
      else globals.systemdCgroup = on;
      continue;
    }
    if (!GLOBAL_STRINGS.has(name)) throw errInvalidArgument(`unknown global flag: ${argv[i]}`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw errInvalidArgument(`flag needs an argument: --${name}`);
    }
    switch (name) {
      case 'root':
        globals.root = path.resolve(value);
        if (globals.root === '/') throw errInvalidArgument('--root cannot be /');
        break;
      case 'log':
        globals.log = value;
        break;
      case 'log-format':
        if (value !== 'text' && value !== 'json') throw errInvalidArgument(`invalid log-format: ${value} (must be text or json)`);
        globals.logFormat = value;
        break;
      case 'rootless':
        globals.rootless = value;
        break;
      default: // --criu: accepted from old callers, ignored
        break;
    }
  }
  const command = argv[i];
  return { globals, help, version, command, commandArgs: command === undefined ? [] : argv.slice(i + 1) };
}

function parseBool(value: string, name: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw errInvalidArgument(`invalid boolean value ${JSON.stringify(value)} for --${name}`);
}

function flagNames(spec: CommandSpec): { long: Set<string>; valueTaking: Set<string> } {
  const long = new Set<string>([...(spec.strings ?? []), ...(spec.booleans ?? []), ...(spec.arrays ?? []), 'help']);
  const valueTaking = new Set<string>([...(spec.strings ?? []), ...(spec.arrays ?? [])]);
  for (const [short, target] of Object.entries(spec.aliases ?? {})) {
    if (valueTaking.has(target)) valueTaking.add(short);
  }
  return { long, valueTaking };
}

/** Index where flag parsing stops: after `stopAfterPositionals` positionals (or at `--`). */
function stopIndex(args: readonly string[], spec: CommandSpec, valueTaking: ReadonlySet<string>): number {
  const limit = spec.stopAfterPositionals;
  if (limit === undefined) return args.length;
  let seen = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') return i;
    if (arg.startsWith('-') && arg !== '-') {
      const name = arg.replace(/^--?/, '');
      if (!name.includes('=') && valueTaking.has(name)) i++;
      continue;
    }
    seen++;
    if (seen === limit) return i + 1;
  }
  return args.length;
}

/** Parses one subcommand's arguments: flags before or after positionals, `--f v` and `--f=v`, unknown flags refused. */
export function parseCommandArgs(spec: CommandSpec, argsIn: readonly string[]): ParsedCommand {
  const { long, valueTaking } = flagNames(spec);
  const args = joinDashValues(argsIn.map((a) => normalizeDashes(a, long)), valueTaking);
  const stop = stopIndex(args, spec, valueTaking);
  const head = args.slice(0, stop);
  let rest = args.slice(stop);
  if (rest[0] === '--') rest = rest.slice(1);
  const aliases: Record<string, string[]> = {};
  for (const [short, target] of Object.entries(spec.aliases ?? {})) (aliases[target] ??= []).push(short);
  const parsed = yargsParser(head, {
    string: [...(spec.strings ?? [])],
    boolean: [...(spec.booleans ?? []), 'help'],
    array: (spec.arrays ?? []).map((key) => ({ key, string: true })),
    alias: { ...aliases, help: ['h'] },
    configuration: {
      'camel-case-expansion': false,
      'boolean-negation': false,
      'short-option-groups': false,
      'dot-notation': false,
      'parse-numbers': false,
      'parse-positional-numbers': false,
      'duplicate-arguments-array': true,
      'strip-aliased': true,
      'greedy-arrays': false,
      'halt-at-non-option': false,
    },
  });
  const flags: ParsedCommand['flags'] = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (key === '_' || key === '--') continue;
    if (!long.has(key)) throw errInvalidArgument(`unknown flag for ${spec.name}: ${key.length === 1 ? '-' : '--'}${key}`);
    const repeatable = spec.arrays?.includes(key) === true;
    if (Array.isArray(value)) {
      // A repeated single-valued flag: the last one wins, as with Go's flag package.
      flags[key] = repeatable ? value.map(String) : (value.length > 0 ? toFlagValue(value[value.length - 1]) : undefined);
    } else flags[key] = toFlagValue(value);
  }
  for (const key of spec.strings ?? []) {
    if (flags[key] === '' && head.some((a) => a === `--${key}` || a === `-${key}`)) {
      throw errInvalidArgument(`flag needs an argument: --${key}`);
    }
  }
  const positionals = parsed._.map(String);
  if (parsed['--']) rest = [...parsed['--'].map(String), ...rest];
  return { flags, positionals, rest };
}

export function stringFlag(cmd: ParsedCommand, name: string): string | undefined {
  const v = cmd.flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function boolFlag(cmd: ParsedCommand, name: string): boolean {
  return cmd.flags[name] === true;
}

export function arrayFlag(cmd: ParsedCommand, name: string): string[] {
  const v = cmd.flags[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** A non-negative integer flag (e.g. --preserve-fds). */
export function intFlag(cmd: ParsedCommand, name: string, fallback = 0): number {
  const v = stringFlag(cmd, name);
  if (v === undefined) return fallback;
  if (!/^[0-9]+$/.test(v)) throw errInvalidArgument(`invalid value ${JSON.stringify(v)} for --${name}: must be a non-negative integer`);
  return Number(v);
}

/** The container id: exactly `count` positionals expected. */
export function requirePositionals(cmd: ParsedCommand, spec: CommandSpec, min: number, max = min): string[] {
  const n = cmd.positionals.length;
  if (n < min) throw errInvalidArgument(`${spec.name}: ${min === 1 ? 'container id' : 'arguments'} missing (usage: proxrun ${spec.usage})`);
  if (n > max) throw errInvalidArgument(`${spec.name}: unexpected argument ${JSON.stringify(cmd.positionals[max])} (usage: proxrun ${spec.usage})`);
  return cmd.positionals;
}

function toFlagValue(value: unknown): string | boolean | undefined {
  if (typeof value === 'string' || typeof value === 'boolean' || value === undefined) return value;
  return String(value);
}

/** `--resources -` → `--resources=-`: the parser would otherwise not take a lone "-" as the value. */
function joinDashValues(args: readonly string[], valueTaking: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const name = arg.replace(/^--?/, '');
    if (arg.startsWith('-') && valueTaking.has(name) && args[i + 1] === '-') {
      out.push(`${arg}=-`);
      i++;
    } else out.push(arg);
  }
  return out;
}
