/**
 * The simulator's own network namespace: `pvesim-<id>` with the bridge `vmbr0` inside. Containers'
 * `netN` devices are veth pairs whose host end LXC's `script.up` hook moves into this namespace and
 * onto the bridge, so nothing of the simulator stays on the host's own interfaces.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { execa } from 'execa';

/** Bridges the namespace holds (the default Proxmox bridge name). */
export const SIM_BRIDGES: readonly string[] = ['vmbr0'];

/** The namespace name for a simulator root: short, stable, unique per root. */
export function netnsName(root: string): string {
  return `pvesim-${createHash('sha256').update(root).digest('hex').slice(0, 10)}`;
}

async function ip(args: string[]): Promise<void> {
  const r = await execa('ip', args, { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

export async function netnsExists(name: string): Promise<boolean> {
  const r = await execa('ip', ['netns', 'list'], { reject: false });
  return r.stdout.split('\n').some((l) => l.split(' ')[0] === name);
}

/** Creates the namespace with loopback up and the bridges (replacing a leftover of the same name). */
export async function createSimNetns(name: string): Promise<void> {
  if (await netnsExists(name)) await removeSimNetns(name);
  await ip(['netns', 'add', name]);
  try {
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
    for (const br of SIM_BRIDGES) {
      await ip(['-n', name, 'link', 'add', br, 'type', 'bridge']);
      await ip(['-n', name, 'link', 'set', br, 'up']);
    }
  } catch (err) {
    await removeSimNetns(name);
    throw err;
  }
}

/** Interface names inside the namespace (without `@peer` suffixes). */
export async function netnsLinks(name: string): Promise<string[]> {
  const r = await execa('ip', ['-n', name, '-o', 'link', 'show'], { reject: false });
  if (r.exitCode !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

/** Deletes every veth and bridge in the namespace, then the namespace. */
export async function removeSimNetns(name: string): Promise<void> {
  if (!(await netnsExists(name))) return;
  const links = await netnsLinks(name);
  for (const link of links.filter((l) => l.startsWith('veth'))) await execa('ip', ['-n', name, 'link', 'del', link], { reject: false });
  for (const link of links.filter((l) => SIM_BRIDGES.includes(l))) await execa('ip', ['-n', name, 'link', 'del', link], { reject: false });
  await ip(['netns', 'delete', name]);
}

/**
 * Writes the `lxc.net.N.script.up` hook. LXC runs it through `sh -c` with
 * `<ct> net up veth <host-if>` appended, in the host's namespace, right after
 * creating the pair: it moves the host end into the simulator's namespace and
 * onto the bridge (failing the start when that bridge does not exist there).
 */
export function writeNetUpHook(file: string): void {
  const script = [
    '#!/bin/sh',
    '# Installed by the Proxmox VE simulator. Arguments: NETNS BRIDGE (- for none), then what LXC appends.',
    'ns="$1"; br="$2"; ifname="$7"',
    'if [ "$br" != - ] && ! ip -n "$ns" link show "$br" >/dev/null 2>&1; then',
    '  echo "bridge \'$br\' does not exist" >&2',
    '  exit 1',
    'fi',
    'ip link set "$ifname" netns "$ns" || exit 1',
    'if [ "$br" = - ]; then ip -n "$ns" link set "$ifname" up; else ip -n "$ns" link set "$ifname" master "$br" up; fi',
    '',
  ].join('\n');
  writeFileSync(file, script, { mode: 0o755 });
}
