/**
 * Where the launcher binary (`proxrun-launch`, built from native/ by `npm run build` into
 * dist/native/) is: found next to the running code, whether that is the bundle in dist/ (or a
 * chunk of it in dist/chunks/) or the TypeScript sources a test runs from.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NAME = 'proxrun-launch';

let found: string | undefined;

/** The launcher's absolute path; throws naming the build step when it is missing. */
export function launcherBinary(): string {
  if (found !== undefined) return found;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    for (const candidate of [path.join(dir, 'native', NAME), path.join(dir, 'dist', 'native', NAME)]) {
      if (fs.existsSync(candidate)) {
        found = candidate;
        return candidate;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`the container launcher dist/native/${NAME} is missing: run "npm run build" (it needs gcc and libseccomp-dev)`);
}
