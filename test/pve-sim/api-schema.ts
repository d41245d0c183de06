/**
 * The official API schema (apidata-pve9.1.json, read at run time, never copied): finds the method
 * description of a concrete path and checks request parameters the way pve-common's JSONSchema does
 * (unknown parameters, types, enums, minimum/maximum, lengths, Perl patterns, named formats and
 * property strings), with its messages.
 */
import fs from 'node:fs';
import { perlToJsRegExp } from './perl-regex.js';
import { checkNamedFormat } from './named-formats.js';

export interface SchemaProperty {
  type?: string;
  optional?: number | boolean;
  default?: unknown;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  minLength?: number;
  pattern?: string;
  format?: string | Record<string, SchemaProperty>;
  default_key?: number | boolean;
  alias?: string;
  items?: SchemaProperty;
}

export interface MethodSchema {
  name?: string;
  method: string;
  allowtoken?: number;
  parameters?: { additionalProperties?: number | boolean; properties?: Record<string, SchemaProperty> };
}

interface SchemaNode {
  path: string;
  info?: Record<string, MethodSchema>;
  children?: SchemaNode[];
}

interface Route {
  template: string;
  regex: RegExp;
  names: string[];
  info: Record<string, MethodSchema>;
}

export interface RouteMatch {
  template: string;
  pathParams: Record<string, string>;
  method?: MethodSchema;
}

/** Values as they arrive: strings from forms and query strings, JSON scalars, arrays for repeated keys. */
export type ParamValue = string | number | boolean | Array<string | number | boolean>;
export type Params = Record<string, ParamValue>;

/** Highest index per indexed property (`net[n]` -> 9), as the schema descriptions state. */
const INDEX_LIMITS: Record<string, number> = {
  mp: 255, unused: 255, dev: 255, scsi: 30, virtio: 15, ide: 3, sata: 5, serial: 3, parallel: 2, usb: 4,
  hostpci: 15, ipconfig: 31, numa: 7, virtiofs: 9, efidisk: 0, tpmstate: 0,
};

export class ApiSchema {
  private readonly routes: Route[] = [];

  constructor(tree: SchemaNode[]) {
    const walk = (nodes: SchemaNode[]): void => {
      for (const n of nodes) {
        const names: string[] = [];
        const src = n.path
          .split('/')
          .map((seg) => {
            const m = /^\{(.+)\}$/.exec(seg);
            if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
            names.push(m[1] ?? '');
            return '([^/]+)';
          })
          .join('/');
        this.routes.push({ template: n.path, regex: new RegExp(`^${src}$`), names, info: n.info ?? {} });
        if (n.children) walk(n.children);
      }
    };
    walk(tree);
  }

  static load(file: string): ApiSchema | undefined {
    if (!fs.existsSync(file)) return undefined;
    return new ApiSchema(JSON.parse(fs.readFileSync(file, 'utf8')) as SchemaNode[]);
  }

  /** The route of a concrete path (`/nodes/pve1/lxc/100/config`), preferring literal segments. */
  match(path: string, method: string): RouteMatch | undefined {
    let best: { route: Route; groups: string[] } | undefined;
    for (const route of this.routes) {
      const m = route.regex.exec(path);
      if (!m) continue;
      if (!best || route.names.length < best.route.names.length) best = { route, groups: m.slice(1) };
    }
    if (!best) return undefined;
    const pathParams: Record<string, string> = {};
    best.route.names.forEach((name, i) => {
      pathParams[name] = decodeURIComponent(best?.groups[i] ?? '');
    });
    const result: RouteMatch = { template: best.route.template, pathParams };
    const info = best.route.info[method];
    if (info) result.method = info;
    return result;
  }
}

/** Finds the schema of a parameter name, resolving indexed names (`net0` -> `net[n]`). */
function lookupProperty(props: Record<string, SchemaProperty>, name: string): SchemaProperty | undefined | 'out-of-range' {
  const direct = props[name];
  if (direct) return direct;
  const m = /^([a-z_-]+?)(\d+)$/i.exec(name);
  if (!m) return undefined;
  const base = m[1] ?? '';
  const indexed = props[`${base}[n]`];
  if (!indexed) return undefined;
  const limit = INDEX_LIMITS[base] ?? (base === 'net' ? (props['ostemplate'] || props['hostname'] ? 9 : 31) : undefined);
  if (limit !== undefined && Number(m[2]) > limit) return 'out-of-range';
  return indexed;
}

const BOOL_TRUE = /^(1|true|yes|on)$/i;
const BOOL_FALSE = /^(0|false|no|off)$/i;

/** Checks one scalar against a property; returns the message or undefined. */
export function checkValue(name: string, prop: SchemaProperty, raw: string | number | boolean): string | undefined {
  const value = typeof raw === 'string' ? raw : String(raw === true ? 1 : raw === false ? 0 : raw);
  const type = prop.type ?? 'string';
  if (type === 'integer') {
    if (!/^-?\d+$/.test(value)) return `type check ('integer') failed - got '${value}'`;
  } else if (type === 'number') {
    if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value)) return `type check ('number') failed - got '${value}'`;
  } else if (type === 'boolean') {
    if (!BOOL_TRUE.test(value) && !BOOL_FALSE.test(value)) return `type check ('boolean') failed - got '${value}'`;
  }
  if (type === 'integer' || type === 'number') {
    const n = Number(value);
    if (prop.minimum !== undefined && n < prop.minimum) return `value must have a minimum value of ${prop.minimum}`;
    if (prop.maximum !== undefined && n > prop.maximum) return `value must have a maximum value of ${prop.maximum}`;
  }
  if (type === 'string') {
    if (prop.maxLength !== undefined && value.length > prop.maxLength) return `value may only be ${prop.maxLength} characters long`;
    if (prop.minLength !== undefined && value.length < prop.minLength) return `value must be at least ${prop.minLength} characters long`;
  }
  if (prop.enum && !prop.enum.includes(value)) {
    return `value '${value}' does not have a value in the enumeration '${prop.enum.join(', ')}'`;
  }
  if (prop.pattern && !perlToJsRegExp(prop.pattern).test(value)) return 'value does not match the regex pattern';
  if (typeof prop.format === 'string') {
    const err = checkNamedFormat(prop.format, value);
    if (err) return `invalid format - ${err}`;
  } else if (prop.format && typeof prop.format === 'object') {
    const errors = checkPropertyString(name, prop.format, value);
    const keys = Object.keys(errors);
    if (keys.length > 0) return `invalid format - format error\n${keys.map((k) => `${k}: ${errors[k]}`).join('\n')}\n`;
  }
  return undefined;
}

/** Parses a property string (`local:8,size=8G`) into its keys, without checking the values. */
export function parsePropertyString(format: Record<string, SchemaProperty>, value: string): Record<string, string> {
  const out: Record<string, string> = {};
  const defaultKey = Object.keys(format).find((k) => format[k]?.default_key);
  for (const part of value.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    let key: string;
    let val: string;
    if (eq < 0) {
      if (defaultKey === undefined) throw new Error(`value without key, but schema does not define a default key`);
      if (out[defaultKey] !== undefined) throw new Error(`duplicate key in comma-separated list property: ${defaultKey}`);
      key = defaultKey;
      val = part;
    } else {
      key = part.slice(0, eq);
      val = part.slice(eq + 1);
      const alias = format[key]?.alias;
      if (alias) key = alias;
      if (out[key] !== undefined) throw new Error(`duplicate key in comma-separated list property: ${key}`);
    }
    out[key] = val;
  }
  return out;
}

/** Checks a property string against its format object; keys are `<param>.<key>`. */
export function checkPropertyString(param: string, format: Record<string, SchemaProperty>, value: string): Record<string, string> {
  const errors: Record<string, string> = {};
  let parsed: Record<string, string>;
  try {
    parsed = parsePropertyString(format, value);
  } catch (e) {
    errors[param] = (e as Error).message;
    return errors;
  }
  for (const [key, val] of Object.entries(parsed)) {
    const prop = format[key];
    if (!prop) {
      errors[`${param}.${key}`] = 'property is not defined in schema and the schema does not allow additional properties';
      continue;
    }
    const err = checkValue(`${param}.${key}`, prop, val);
    if (err) errors[`${param}.${key}`] = err;
  }
  for (const [key, prop] of Object.entries(format)) {
    if (prop.alias) continue;
    if (!prop.optional && parsed[key] === undefined) errors[`${param}.${key}`] = 'property is missing and it is not optional';
  }
  return errors;
}

/** Checks all parameters of a request (path parameters included); returns errors by parameter. */
export function validateParams(method: MethodSchema, params: Params): Record<string, string> {
  const errors: Record<string, string> = {};
  const props = method.parameters?.properties ?? {};
  const additional = Boolean(method.parameters?.additionalProperties);
  for (const [name, value] of Object.entries(params)) {
    const prop = lookupProperty(props, name);
    if (prop === 'out-of-range' || prop === undefined) {
      if (!additional) errors[name] = 'property is not defined in schema and the schema does not allow additional properties';
      continue;
    }
    const values = Array.isArray(value) ? value : [value];
    if (Array.isArray(value) && prop.type !== 'array') {
      errors[name] = `type check ('${prop.type ?? 'string'}') failed - got an array`;
      continue;
    }
    for (const v of values) {
      const err = checkValue(name, prop.type === 'array' ? (prop.items ?? { type: 'string' }) : prop, v);
      if (err) {
        errors[name] = err;
        break;
      }
    }
  }
  for (const [name, prop] of Object.entries(props)) {
    if (name.endsWith('[n]') || prop.optional) continue;
    if (params[name] === undefined) errors[name] = 'property is missing and it is not optional';
  }
  return errors;
}
