/**
 * `ps` output for backends whose container's processes are host pids proxrun finds itself (the
 * Proxmox backends): a JSON array of pids for `--format json`, else a `PID` column, one per line.
 * Written once here so both Proxmox backends print the same shape.
 */
export function formatPidList(format: 'table' | 'json', pids: readonly number[]): string {
  return format === 'json' ? `${JSON.stringify(pids)}\n` : `PID\n${pids.map((p) => `${p}\n`).join('')}`;
}

export function printPidList(format: 'table' | 'json', pids: readonly number[]): void {
  process.stdout.write(formatPidList(format, pids));
}
