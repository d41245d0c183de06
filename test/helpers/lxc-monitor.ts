/**
 * When an `lxc-monitor` process can be relied on to see a container's next state change: once
 * `lxc-monitord` has accepted its connection. Before that a state change is lost, and the socket of
 * `lxc-monitord` merely existing does not mean the connection was accepted.
 */
import { spawnSync } from 'node:child_process';

/**
 * Whether lxc-monitord has accepted the connection of the lxc-monitor process `pid`: one of that
 * process's sockets (its stdio may be sockets too) has as its peer a socket lxc-monitord holds
 * (`ss -xpn`, whose columns 6 and 8 are the local and the peer inode of a unix socket).
 */
export function monitordAccepted(pid: number): boolean {
  const rows = spawnSync('ss', ['-xpn'], { encoding: 'utf8' }).stdout.split('\n').map((line) => line.trim().split(/\s+/));
  const held = (fields: readonly string[], name: string): boolean => fields.some((field) => field.includes(name));
  const peers = new Set(rows.filter((fields) => held(fields, `pid=${pid},`)).map((fields) => fields[7]));
  return rows.some((fields) => peers.has(fields[5]) && held(fields, '"lxc-monitord"'));
}
