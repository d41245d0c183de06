/**
 * Bind-mounted host files (podman's /etc/hosts, /etc/hostname, /etc/resolv.conf,
 * /run/.containerenv) become files in the VM's disk image: each source is first copied into the
 * container's folder (one snapshot, taken at create), then written into the ext4 image with
 * `debugfs -w` (no mount), parents created, owner and mode taken from the source. Every file is
 * read back afterwards, because debugfs reports a failed command only on its output.
 * Later changes to the host file (podman rewriting /etc/hosts) do not reach the VM.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FileCopy } from '../translate/vm-plan.js';

const execFileAsync = promisify(execFile);
const TOOL_ENV = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: `${process.env.PATH ?? ''}:/sbin:/usr/sbin` });

/** debugfs arguments are split on blanks; double quotes keep a path with spaces in one word. */
function debugfsWord(word: string): string {
  if (/["\n\\]/.test(word)) throw new Error(`cannot pass ${JSON.stringify(word)} to debugfs`);
  return /^[A-Za-z0-9._+@%:,/-]+$/.test(word) ? word : `"${word}"`;
}

function parents(destination: string): string[] {
  const parts = destination.split('/').filter(Boolean).slice(0, -1);
  return parts.map((_, index) => `/${parts.slice(0, index + 1).join('/')}`);
}

async function debugfs(image: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync('debugfs', [...args, image], { env: TOOL_ENV(), maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === 'ENOENT') throw new Error('debugfs not found: install Debian package e2fsprogs');
    throw new Error(`debugfs failed on ${image}: ${(failure.stderr ?? failure.message).trim()}`);
  }
}

/** Writes each copy into `image`; `workDir` holds the snapshots of the sources. */
export async function copyFilesIntoImage(image: string, copies: readonly FileCopy[], workDir: string): Promise<void> {
  if (copies.length === 0) return;
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const commands: string[] = [];
  const snapshots: string[] = [];
  for (const [index, copy] of copies.entries()) {
    const snapshot = path.join(workDir, `bind-file-${index}`);
    await copyFile(copy.source, snapshot);
    snapshots.push(snapshot);
    const info = await stat(copy.source);
    const target = debugfsWord(copy.destination);
    // mkdir of an existing parent and rm of a missing file only print an error: both are expected.
    for (const dir of parents(copy.destination)) commands.push(`mkdir ${debugfsWord(dir)}`);
    commands.push(`rm ${target}`, `write ${debugfsWord(snapshot)} ${target}`);
    commands.push(`sif ${target} mode 0${(0o100000 | (info.mode & 0o7777)).toString(8)}`, `sif ${target} uid ${info.uid}`, `sif ${target} gid ${info.gid}`);
  }
  const commandFile = path.join(workDir, 'debugfs-commands');
  await writeFile(commandFile, `${commands.join('\n')}\n`, { mode: 0o600 });
  await debugfs(image, ['-w', '-f', commandFile]);
  for (const [index, copy] of copies.entries()) {
    const expected = await readFile(snapshots[index] ?? '');
    const { stdout } = await execFileAsync('debugfs', ['-R', `cat ${debugfsWord(copy.destination)}`, image], { env: TOOL_ENV(), encoding: 'buffer', maxBuffer: 4 * 1024 * 1024 });
    if (!Buffer.from(stdout).equals(expected)) throw new Error(`could not write the bind-mounted file ${copy.source} to ${copy.destination} in the disk image (is a directory or a dangling path there?)`);
  }
}
