import fs from 'node:fs';
import path from 'node:path';
import { checkConfigDocument, loadBundleConfig, parseConfigBytes, type LoadedBundleConfig } from './config-file.js';

/**
 * Reads and checks a config: `<bundle>/config.json`, or the given file (for `validate FILE`),
 * with the root path resolved against the bundle either way.
 */
export function loadConfig(bundleDir: string, file?: string): LoadedBundleConfig {
  if (file === undefined) return loadBundleConfig(bundleDir);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    return { bytes: Buffer.alloc(0), problems: [{ path: '', message: `cannot read ${file}: ${(err as Error).message}` }] };
  }
  const parsed = parseConfigBytes(bytes);
  if (parsed.spec === undefined) return { bytes, problems: parsed.problems };
  const checked = checkConfigDocument(parsed.spec, { bundleDir: path.resolve(bundleDir) });
  return checked.spec === undefined ? { bytes, problems: checked.problems } : { bytes, spec: checked.spec, problems: [] };
}
