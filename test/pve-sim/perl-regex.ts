/**
 * Turns the stringified Perl regexes of the API schema (`(?^:...)`, `(?^i:...)`) into JavaScript
 * RegExps anchored the way pve-common's JSONSchema uses them (`m/^$pattern$/`).
 */

const cache = new Map<string, RegExp>();

/** Translates one Perl pattern; throws when JavaScript cannot express it. */
export function perlToJsRegExp(perl: string): RegExp {
  const hit = cache.get(perl);
  if (hit) return hit;
  let caseInsensitive = false;
  let src = perl.replace(/\(\?\^([a-z]*):/g, (_m, flags: string) => {
    // JavaScript (Node 20) has no inline modifiers; a case-insensitive group makes the whole pattern so.
    if (flags.includes('i')) caseInsensitive = true;
    return '(?:';
  });
  src = src
    .replace(/\\z/g, '$')
    .replace(/\\Z/g, '$')
    .replace(/\\A/g, '^')
    .replace(/\{,(\d+)\}/g, '{0,$1}');
  const re = new RegExp(`^(?:${src})$`, caseInsensitive ? 'i' : '');
  cache.set(perl, re);
  return re;
}
