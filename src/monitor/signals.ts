/**
 * Signal numbers (Linux x86-64/arm64 numbering) the monitor and the init
 * script deal with.
 */

/** Signals whose default action ends the process (with or without a core dump). */
export const TERMINATING_SIGNALS: readonly number[] = [
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 24, 25, 26, 27, 29, 30, 31,
  ...Array.from({ length: 31 }, (_, i) => 34 + i),
];

/** Every signal a process can catch except SIGCHLD, which the monitor needs for itself. */
export const FORWARDED_SIGNALS: readonly number[] = [
  1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 18, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
  ...Array.from({ length: 31 }, (_, i) => 34 + i),
];

/**
 * Signals the container's init traps while it waits for `start`, so that
 * `kill` on a created container ends it as it would end runc's init.
 */
export const PRE_START_TRAPPED_SIGNALS: readonly number[] = TERMINATING_SIGNALS.filter((n) => n !== 9);
