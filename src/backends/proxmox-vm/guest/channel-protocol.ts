/**
 * The line protocol on the `proxrun.control` virtio-console port. Both ends
 * use these words; the guest side is shell (see guest-init.ts), the host side
 * is host-channel.ts.
 *
 * guest -> host:
 *   `ready`                       the guest has booted and waits for `start`
 *   `running`                     the guest lost the host and got it back while the payload runs
 *   `error MESSAGE`               something failed before or instead of the payload (followed by `exit`)
 *   `exit STATUS OUTBYTES ERRBYTES` the payload ended with STATUS (128+N for signal N) after
 *                                 writing OUTBYTES to stdout and ERRBYTES to stderr
 * host -> guest:
 *   `start`                       run the payload (the create/start gate)
 *   `signal N`                    send signal N to the payload (before `start`: end with 128+N unrun)
 *   `ack`                         all output arrived: the guest may power off
 */

/** Names of the virtio-console ports (virtserialport `name=`), as the guest sees them in sysfs. */
export const PORT_NAMES = {
  stdout: 'proxrun.stdout',
  stderr: 'proxrun.stderr',
  control: 'proxrun.control',
} as const;

export type PortRole = keyof typeof PORT_NAMES;

export const PORT_ROLES: readonly PortRole[] = ['stdout', 'stderr', 'control'];

/** Exit status the guest reports when it could not run the payload at all. */
export const GUEST_FAILURE_STATUS = 125;

export type GuestMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'running' }
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'exit'; readonly status: number; readonly stdoutBytes: number; readonly stderrBytes: number };

/** Parses one control line from the guest; undefined for a line this version does not know. */
export function parseGuestLine(line: string): GuestMessage | undefined {
  const text = line.replace(/\r$/, '');
  if (text === 'ready') return { kind: 'ready' };
  if (text === 'running') return { kind: 'running' };
  if (text.startsWith('error ')) return { kind: 'error', message: text.slice('error '.length) };
  const exit = /^exit (\d{1,3}) (\d+) (\d+)$/.exec(text);
  if (exit) {
    const status = Number(exit[1]);
    if (status > 255) return undefined;
    return { kind: 'exit', status, stdoutBytes: Number(exit[2]), stderrBytes: Number(exit[3]) };
  }
  return undefined;
}

export function startLine(): string {
  return 'start\n';
}

export function signalLine(signal: number): string {
  if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw new Error(`not a signal number: ${signal}`);
  return `signal ${signal}\n`;
}

export function ackLine(): string {
  return 'ack\n';
}
