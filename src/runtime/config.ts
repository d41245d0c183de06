import fs from 'node:fs';
import type { ProxrunConfig } from '../oci/spec.js';
import { RuntimeError } from './errors.js';

export type { ProxrunConfig };

export const DEFAULT_CONFIG_PATH = '/etc/proxrun/config.json';

/** Where proxrun's own configuration lives: `$PROXRUN_CONFIG`, else /etc/proxrun/config.json. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.PROXRUN_CONFIG && env.PROXRUN_CONFIG !== '' ? env.PROXRUN_CONFIG : DEFAULT_CONFIG_PATH;
}

/**
 * Reads and validates the configuration. A missing file means defaults; a file
 * that exists but is malformed or breaks the schema is an error naming the field.
 */
export async function loadConfig(file = configPath()): Promise<ProxrunConfig> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new RuntimeError('InvalidConfig', `proxrun config ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new RuntimeError('InvalidConfig', `proxrun config ${file}: invalid JSON: ${(err as Error).message}`);
  }
  const { validateProxrunConfigSchema } = await import('../oci/schema-validate.js');
  const { formatProblem } = await import('../oci/problems.js');
  const problems = validateProxrunConfigSchema(doc);
  if (problems.length > 0) {
    throw new RuntimeError('InvalidConfig', problems.map((p) => formatProblem(p, `proxrun config ${file}`)).join('; '));
  }
  return doc as ProxrunConfig;
}
