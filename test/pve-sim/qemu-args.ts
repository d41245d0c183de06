/**
 * Word splitting of a qemu `args:` value the way qemu-server's `split_args` does it (Perl's
 * `Text::ParseWords::shellwords`): blanks separate words, single quotes keep their text as is, double
 * quotes and bare words drop the backslash before any character, adjacent pieces join into one word.
 */

/** Splits `text` into words; throws on an unbalanced quote (shellwords then returns nothing). */
export function splitArgs(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  const n = text.length;
  const blank = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
  while (i < n) {
    while (blank(text[i])) i += 1;
    if (i >= n) break;
    let word = '';
    while (i < n && !blank(text[i])) {
      const c = text[i] ?? '';
      if (c === "'" || c === '"') {
        let j = i + 1;
        let piece = '';
        for (;;) {
          if (j >= n) throw new Error(`unbalanced ${c} in args: ${text}`);
          const d = text[j] ?? '';
          if (d === c) break;
          if (d === '\\' && j + 1 < n) {
            // Inside single quotes the pair stays as written; inside double quotes the backslash goes.
            piece += c === "'" ? d + (text[j + 1] ?? '') : (text[j + 1] ?? '');
            j += 2;
            continue;
          }
          piece += d;
          j += 1;
        }
        word += piece;
        i = j + 1;
      } else if (c === '\\' && i + 1 < n) {
        word += text[i + 1] ?? '';
        i += 2;
      } else {
        word += c;
        i += 1;
      }
    }
    words.push(word);
  }
  return words;
}
