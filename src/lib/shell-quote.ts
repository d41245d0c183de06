/**
 * Quotes one word for a POSIX shell (busybox ash included): the result, pasted
 * into a script, expands to exactly `word`, whatever characters it holds.
 */
export function quoteShellWord(word: string): string {
  if (word.includes('\0')) {
    throw new Error('a shell word cannot contain a NUL character');
  }
  // Inside single quotes every byte is literal except the single quote itself,
  // which is written as: close quote, escaped quote, reopen quote.
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
