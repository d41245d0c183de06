/**
 * The QEMU arguments the proxmox-vm backend puts in a VM's `args:` (direct
 * kernel boot and the three virtio-console ports), and their quoting as
 * qemu-server reads them: `split_args` splits `args` into words the way a
 * shell would (Text::ParseWords::shellwords), so each word is single-quoted
 * when it holds anything but safe characters.
 *
 * The chardevs are unix sockets in `server=on,wait=off` mode: QEMU (and so
 * `qm start`) never blocks on a reader, and no output is lost because the
 * guest writes nothing before the host, connected to all three, sends `start`
 * (and a virtio-console write blocks while the host end is closed).
 */
import { join } from 'node:path';
import { PORT_NAMES, PORT_ROLES, type PortRole } from './channel-protocol.js';

export interface GuestBootFiles {
  readonly kernelPath: string;
  readonly initrdPath: string;
  /** Directory for the chardev sockets (one per VM). */
  readonly runDir: string;
  /** Extra kernel command line words (e.g. "console=ttyS0" for a serial log). */
  readonly extraKernelArgs?: readonly string[];
}

/** The kernel's command line limit on x86 (COMMAND_LINE_SIZE, including the final NUL). */
export const KERNEL_COMMAND_LINE_LIMIT = 2048;

/** The identifier QEMU knows the virtio-serial controller by. */
export const SERIAL_CONTROLLER_ID = 'proxrun-serial';

/** Socket path of each port under the run dir. */
export function portSocketPath(runDir: string, role: PortRole): string {
  return join(runDir, `${role}.sock`);
}

export function portSocketPaths(runDir: string): Record<PortRole, string> {
  return { stdout: portSocketPath(runDir, 'stdout'), stderr: portSocketPath(runDir, 'stderr'), control: portSocketPath(runDir, 'control') };
}

/** The guest kernel's command line: quiet, no reboot loop on panic, our /init. */
export function kernelCommandLine(extra: readonly string[] = []): string {
  const line = ['quiet', 'panic=-1', 'rdinit=/init', ...extra].join(' ');
  if (line.length + 1 > KERNEL_COMMAND_LINE_LIMIT) throw new Error(`kernel command line longer than ${KERNEL_COMMAND_LINE_LIMIT - 1} bytes`);
  return line;
}

/** QEMU option values separate their keys with commas; a comma in a path is written twice. */
function optionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

/** The arguments as a word list (what QEMU's argv receives). */
export function guestQemuArgs(files: GuestBootFiles): string[] {
  const words = [
    '-kernel', files.kernelPath,
    '-initrd', files.initrdPath,
    '-append', kernelCommandLine(files.extraKernelArgs),
    // A panic reboots at once (panic=-1) and -no-reboot turns that into QEMU's exit: never a second run.
    '-no-reboot',
    '-device', `virtio-serial-pci,id=${SERIAL_CONTROLLER_ID}`,
  ];
  for (const role of PORT_ROLES) {
    const chardev = `proxrun-${role}`;
    words.push(
      '-chardev', `socket,id=${chardev},path=${optionValue(portSocketPath(files.runDir, role))},server=on,wait=off`,
      '-device', `virtserialport,bus=${SERIAL_CONTROLLER_ID}.0,chardev=${chardev},name=${PORT_NAMES[role]}`,
    );
  }
  for (const word of words) {
    if (/[\n\r\0]/.test(word)) throw new Error(`a QEMU argument cannot hold a line break or NUL: ${JSON.stringify(word)}`);
  }
  return words;
}

const SAFE_WORD = /^[A-Za-z0-9_\-.,:/=+@%]+$/;

/** Quotes one word so that shellwords() gives it back unchanged. */
export function quoteArgWord(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The value of the VM config's `args:` line. */
export function formatArgsLine(words: readonly string[]): string {
  return words.map(quoteArgWord).join(' ');
}

/** Splits an `args:` value the way qemu-server's split_args does (shell words), for tests and checks. */
export function splitArgsLine(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let index = 0;
  while (index < line.length) {
    const char = line[index] as string;
    if (char === "'") {
      const end = line.indexOf("'", index + 1);
      if (end < 0) throw new Error('unbalanced single quote in args');
      current += line.slice(index + 1, end);
      inWord = true;
      index = end + 1;
    } else if (char === '"') {
      index += 1;
      while (index < line.length && line[index] !== '"') {
        if (line[index] === '\\' && index + 1 < line.length) index += 1;
        current += line[index];
        index += 1;
      }
      if (index >= line.length) throw new Error('unbalanced double quote in args');
      inWord = true;
      index += 1;
    } else if (char === '\\' && index + 1 < line.length) {
      current += line[index + 1];
      inWord = true;
      index += 2;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
      index += 1;
    } else {
      current += char;
      inWord = true;
      index += 1;
    }
  }
  if (inWord) words.push(current);
  return words;
}
