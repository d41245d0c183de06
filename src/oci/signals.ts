import { constants } from 'node:os';

const SIGNALS: Readonly<Record<string, number>> = constants.signals as Record<string, number>;

/**
 * Parses a signal as runc does: a number (`15`), a name (`TERM`) or a
 * SIG-prefixed name (`SIGTERM`), in any case. Throws on anything else.
 */
export function parseSignal(raw: string): number {
  const text = raw.trim();
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= 64) return n;
    throw new Error(`invalid signal number ${text}: must be between 1 and 64`);
  }
  const upper = text.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const rt = /^SIGRTMIN(?:\+([0-9]+))?$/.exec(name) ?? /^SIGRTMAX(?:-([0-9]+))?$/.exec(name);
  if (rt) {
    const offset = Number(rt[1] ?? 0);
    const n = name.startsWith('SIGRTMIN') ? 34 + offset : 64 - offset;
    if (n >= 34 && n <= 64) return n;
  }
  const n = SIGNALS[name];
  if (n === undefined) throw new Error(`unknown signal "${raw}"`);
  return n;
}

/** Name of a signal number (`15` -> `SIGTERM`), or undefined. */
export function signalName(n: number): string | undefined {
  for (const [name, value] of Object.entries(SIGNALS)) if (value === n) return name;
  return undefined;
}
