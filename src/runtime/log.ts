import fs from 'node:fs';
import type { Logger } from 'pino';

/**
 * runc-shaped logging to the `--log` file: one line per event,
 * `{"level":"error","msg":"...","time":"<RFC 3339>"}` with `--log-format json`,
 * logrus' text shape (`time="..." level=error msg="..."`) otherwise.
 * pino is loaded only when something is written, so a quiet command pays nothing for it.
 */

export type LogFormat = 'text' | 'json';

export interface LogOptions {
  file?: string | undefined;
  format: LogFormat;
  debug: boolean;
}

let current: LogOptions = { format: 'text', debug: false };
let logger: Logger | undefined;

export function configureLog(options: LogOptions): void {
  current = options;
  logger = undefined;
}

/** Turns a pino JSON line into logrus' text form. */
export function jsonLineToText(line: string): string {
  const record = JSON.parse(line) as Record<string, unknown>;
  const quote = (v: unknown): string => JSON.stringify(typeof v === 'string' ? v : JSON.stringify(v));
  const parts = [`time=${quote(record.time)}`, `level=${String(record.level)}`, `msg=${quote(record.msg)}`];
  for (const [k, v] of Object.entries(record)) {
    if (k !== 'time' && k !== 'level' && k !== 'msg') parts.push(`${k}=${quote(v)}`);
  }
  return parts.join(' ') + '\n';
}

async function getLogger(): Promise<Logger> {
  if (logger) return logger;
  // pino is CommonJS: bundled, its function is the default export; under plain Node it is also a named one.
  const pinoModule = await import('pino');
  const pino = (pinoModule.default ?? pinoModule.pino) as typeof pinoModule.pino;
  const { file, format, debug } = current;
  const fd = file ? fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_SYNC, 0o644) : 2;
  const destination = {
    write(line: string): void {
      fs.writeSync(fd, format === 'json' ? line : jsonLineToText(line));
    },
  };
  logger = pino(
    {
      level: debug ? 'debug' : 'info',
      base: undefined,
      messageKey: 'msg',
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      formatters: { level: (label: string) => ({ level: label }) },
      // Secrets are never passed to the logger; these keys are redacted in case a caller slips.
      redact: { paths: ['tokenSecret', 'password', 'secret', '*.tokenSecret', '*.password', '*.secret'], censor: '[redacted]' },
    },
    destination,
  );
  return logger;
}

/** Writes the one error line of a failed command to the --log file (no-op without --log). */
export async function logError(message: string): Promise<void> {
  if (!current.file) return;
  (await getLogger()).error(message);
}

/** Warnings and debug lines never fail the command that writes them. */
export async function logWarning(message: string, fields?: Record<string, unknown>): Promise<void> {
  if (!current.file) return;
  await getLogger().then((l) => l.warn(fields ?? {}, message), () => undefined);
}

export async function logDebug(message: string, fields?: Record<string, unknown>): Promise<void> {
  if (!current.debug) return;
  await getLogger().then((l) => l.debug(fields ?? {}, message), () => undefined);
}

export function logOptions(): LogOptions {
  return current;
}
