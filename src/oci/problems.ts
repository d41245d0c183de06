// A problem found in a JSON document: where (a JSON pointer) and which rule was broken.

export interface Problem {
  /** JSON pointer (RFC 6901) to the offending value, e.g. `/process/cwd`; `""` means the document itself. */
  path: string;
  /** The rule, stated for a reader: `must be an absolute path`. */
  message: string;
}

/** Escapes one property name or index for use as a JSON pointer segment. */
export function pointerSegment(segment: string | number): string {
  return String(segment).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Joins a parent pointer and further segments: `joinPointer('/process', 'args', 0)` is `/process/args/0`. */
export function joinPointer(parent: string, ...segments: Array<string | number>): string {
  return parent + segments.map((s) => `/${pointerSegment(s)}`).join('');
}

/** One line for people: `config.json: /process/cwd: must be an absolute path` (no pointer for the root). */
export function formatProblem(problem: Problem, file = 'config.json'): string {
  return problem.path === '' ? `${file}: ${problem.message}` : `${file}: ${problem.path}: ${problem.message}`;
}
