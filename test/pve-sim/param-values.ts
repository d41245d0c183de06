/** Reading typed values out of request parameters (strings from forms, scalars from JSON). */
import type { ParamValue, Params } from './api-schema.js';

export function paramString(params: Params, key: string): string | undefined {
  const v: ParamValue | undefined = params[key];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v.map(String).join('\0');
  if (typeof v === 'boolean') return v ? '1' : '0';
  return String(v);
}

export function paramInt(params: Params, key: string): number | undefined {
  const s = paramString(params, key);
  return s === undefined ? undefined : Number(s);
}

export function paramBool(params: Params, key: string): boolean | undefined {
  const s = paramString(params, key);
  if (s === undefined) return undefined;
  return /^(1|true|yes|on)$/i.test(s);
}

/** A boolean as stored in a config file (`1`/`0`). */
export function configBool(s: string | undefined): boolean {
  return s !== undefined && /^(1|true|yes|on)$/i.test(s);
}
