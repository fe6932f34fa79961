import { statSync } from 'node:fs';
import { resolve } from 'node:path';

// A small schema language for recipe and plugin parameters: one declaration gives the TypeScript
// type (for defineConfig/definePlugin inference) and the runtime check (which names the field).

export interface Issues {
  errors: string[];
  warnings: string[];
  /** The config's directory, when parsing a config: lets local-path params check that they exist. */
  baseDir?: string;
}

export interface Schema<Out, In = Out> {
  readonly kind: string;
  readonly description?: string;
  readonly hasDefault: boolean;
  /** Never called; carries the input type for inference. */
  readonly _in?: In;
  parse(value: unknown, path: string, issues: Issues): Out | undefined;
  /** A short type description for the config reference and error messages. */
  readonly type: string;
  default(value: Out): Schema<Out, In | undefined>;
  describe(text: string): Schema<Out, In>;
}

export type Shape = Record<string, Schema<any, any>>;
export type Infer<S> = S extends Schema<infer O, any> ? O : never;
export type InferIn<S> = S extends Schema<any, infer I> ? I : never;

type OptionalKeys<T extends Shape> = { [K in keyof T]: undefined extends InferIn<T[K]> ? K : never }[keyof T];
type RequiredKeys<T extends Shape> = Exclude<keyof T, OptionalKeys<T>>;
type Simplify<T> = { [K in keyof T]: T[K] };

/** What a user writes (keys with defaults may be left out). */
export type ShapeIn<T extends Shape> = Simplify<
  { [K in RequiredKeys<T>]: InferIn<T[K]> } & { [K in OptionalKeys<T>]?: InferIn<T[K]> }
>;
/** What a plugin or recipe receives (defaults applied). */
export type ShapeOut<T extends Shape> = Simplify<{ [K in keyof T]: Infer<T[K]> }>;

function schema<Out, In = Out>(
  kind: string,
  type: string,
  check: (value: unknown, path: string, issues: Issues) => Out | undefined,
  opts: { description?: string; def?: { value: Out } } = {},
): Schema<Out, In> {
  return {
    kind,
    type,
    description: opts.description,
    hasDefault: opts.def !== undefined,
    parse(value, path, issues) {
      if (value === undefined) {
        if (opts.def) return structuredClone(opts.def.value);
        if (kind === 'optional') return undefined;
        if (kind !== 'section') return void issues.errors.push(`${path}: required ${type} is missing`);
      }
      return check(value, path, issues);
    },
    default(value: Out) {
      return schema<Out, In | undefined>(kind, type, check, { ...opts, def: { value } });
    },
    describe(text: string) {
      return schema<Out, In>(kind, type, check, { ...opts, description: text });
    },
  };
}

/** A config value as an error message shows it; never throws (a BigInt or a Symbol is a value a config can hold). */
export function show(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return typeof v === 'bigint' ? `${v}n` : Object.prototype.toString.call(v);
  }
}

/** C0 and C1 controls and DEL: each ends a line or a field in some file netboot writes. */
export const CONTROL_CHARS = /[\x00-\x1f\x7f-\x9f]/;
const SIZE = /^([1-9]\d{0,9})([MG])$/;
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
/** A dotted-quad IPv4 address without leading zeros (node:net's isIPv4 takes the same). */
export const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
/** Six colon-separated hex pairs, either case (the value is kept in lower case). */
export const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
/**
 * The one rule for a host name: labels of letters, digits, '_' and '-' joined by single dots, 63
 * characters at most, as dhcpd and dnsmasq take a host name ("a..b" or a trailing dot fails there).
 */
export const HOST_NAME = /^(?=.{1,63}$)[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$/;
export const HOST_NAME_WHAT = "a valid host name (letters, digits, '_', '-', labels joined by single dots)";

interface StringOpts {
  pattern?: RegExp;
  what?: string;
  /** What a missing value is called in "required ... is missing" (default: string). */
  type?: string;
  /** A further check on a string that matched: returns why it is refused, or nothing. */
  check?: (v: string, issues: Issues) => string | undefined;
}

export const p = {
  string(opts: StringOpts = {}) {
    const what = opts.what ?? 'a string';
    return schema<string>('string', opts.type ?? 'string', (v, path, issues) => {
      if (typeof v !== 'string') return void issues.errors.push(`${path}: ${show(v)} is not ${what}`);
      if (opts.pattern && !opts.pattern.test(v)) return void issues.errors.push(`${path}: ${show(v)} is not ${what}`);
      const why = opts.check?.(v, issues);
      if (why) return void issues.errors.push(`${path}: ${show(v)} ${why}`);
      return v;
    });
  },
  /** One line of text for a file netboot writes (a kernel command line, a label): no control characters. */
  line(what = 'one line of text without control characters') {
    return p.string({ pattern: /^[^\x00-\x1f\x7f-\x9f]*$/, what });
  },
  /** A Unix user or group name as useradd(8) takes it by default. */
  userName() {
    return p.string({
      pattern: /^[a-z_][a-z0-9_-]{0,31}$/,
      what: "a user name (lower-case letters, digits, '_', '-'; 32 at most)",
    });
  },
  /** An absolute path of plain characters (a login shell, a program): safe in any script or config line. */
  programPath(what = "an absolute path of letters, digits and '._+-/'") {
    return p.string({ pattern: /^(?!.*\/\.\.?(\/|$))(\/[A-Za-z0-9._+-]+)+$/, what });
  },
  /** An absolute path on a machine netboot configures: no control characters and no '..' parts. */
  absPath(what = "an absolute path without control characters or '..' parts") {
    return p.string({ pattern: /^(?!.*\/\.\.(\/|$))\/[^\x00-\x1f\x7f-\x9f]*$/, what });
  },
  /** An IPv4 address: clients have no DNS at boot, so every address netboot writes is one. */
  ipv4(what = 'an IPv4 address') {
    return p.string({ pattern: IPV4, what, type: 'IPv4 address' });
  },
  /** A MAC address, aa:bb:cc:dd:ee:ff in either case; parsed to lower case (how every boot file names it). */
  mac(what = 'a MAC address') {
    return schema<string>('string', 'MAC address', (v, path, issues) => {
      if (typeof v !== 'string' || !MAC.test(v)) return void issues.errors.push(`${path}: ${show(v)} is not ${what}`);
      return v.toLowerCase();
    });
  },
  /** A host name under the one rule of HOST_NAME. */
  hostName(what = HOST_NAME_WHAT) {
    return p.string({ pattern: HOST_NAME, what, type: 'host name' });
  },
  /** A size like 2G or 1536M, between `min` and `max` MiB. */
  size(min: number, max: number) {
    const what = `a size like 2G or 1536M, from ${min}M to ${max / 1024}G`;
    return p.string({
      pattern: SIZE,
      what,
      check: (v) => {
        const mib = sizeMiB(v);
        return mib < min || mib > max ? `is not ${what}` : undefined;
      },
    });
  },
  /** A local directory (relative to the config file); a config that names one that does not exist is refused. */
  localDir(what = 'a local directory') {
    return p.string({
      pattern: /^[^\x00]+$/,
      what,
      check: (v, issues) => {
        if (!issues.baseDir) return undefined;
        const st = statSync(resolve(issues.baseDir, v), { throwIfNoEntry: false });
        if (!st) return `is not ${what}: no such directory (relative paths are relative to the config file)`;
        return st.isDirectory() ? undefined : `is not ${what}: it is a file`;
      },
    });
  },
  number(opts: { min?: number; max?: number; integer?: boolean } = {}) {
    return schema<number>('number', opts.integer ? 'integer' : 'number', (v, path, issues) => {
      if (typeof v !== 'number' || !Number.isFinite(v))
        return void issues.errors.push(`${path}: ${show(v)} is not a number`);
      if (opts.integer && !Number.isInteger(v)) return void issues.errors.push(`${path}: ${v} is not an integer`);
      if (opts.min !== undefined && v < opts.min)
        return void issues.errors.push(`${path}: ${v} is below the minimum ${opts.min}`);
      if (opts.max !== undefined && v > opts.max)
        return void issues.errors.push(`${path}: ${v} is above the maximum ${opts.max}`);
      return v;
    });
  },
  boolean() {
    return schema<boolean>('boolean', 'boolean', (v, path, issues) => {
      if (typeof v !== 'boolean') return void issues.errors.push(`${path}: ${show(v)} is not true or false`);
      return v;
    });
  },
  enum<const T extends readonly string[]>(values: T) {
    return schema<T[number]>('enum', values.map((v) => JSON.stringify(v)).join(' | '), (v, path, issues) => {
      if (typeof v !== 'string' || !values.includes(v))
        return void issues.errors.push(`${path}: ${show(v)} is not one of ${values.join(', ')}`);
      return v as T[number];
    });
  },
  array<O, I>(item: Schema<O, I>) {
    return schema<O[], I[]>('array', `${item.type}[]`, (v, path, issues) => {
      if (!Array.isArray(v)) return void issues.errors.push(`${path}: ${show(v)} is not a list`);
      return v.map((x, i) => item.parse(x, `${path}[${i}]`, issues) as O);
    });
  },
  /** An object of named values; `key`, when given, is the pattern every name must match. */
  record<O, I>(item: Schema<O, I>, key?: { pattern: RegExp; what: string }) {
    return schema<Record<string, O>, Record<string, I>>('record', `{ [name]: ${item.type} }`, (v, path, issues) => {
      if (!isPlainObject(v)) return void issues.errors.push(`${path}: ${show(v)} is not an object`);
      const out: Record<string, O> = {};
      for (const [k, x] of Object.entries(v)) {
        if (key && !key.pattern.test(k)) issues.errors.push(`${path}.${k}: ${show(k)} is not ${key.what}`);
        else out[k] = item.parse(x, `${path}.${k}`, issues) as O;
      }
      return out;
    });
  },
  object<T extends Shape>(shape: T) {
    return schema<ShapeOut<T>, ShapeIn<T>>('object', 'object', (v, path, issues) => parseShape(shape, v, path, issues));
  },
  /**
   * A value checked by `check`, which reports its own problems in `issues` (naming `path`) and
   * returns nothing for a refused value. For what the other kinds do not say: a config's plugins,
   * hooks and cross-field rules.
   */
  custom<O, I = O>(type: string, check: (value: unknown, path: string, issues: Issues) => O | undefined) {
    return schema<O, I>('custom', type, check);
  },
  /** An object whose fields all have defaults (or are optional): a missing one is read as {}. */
  section<T extends Shape>(shape: T) {
    const check = (v: unknown, path: string, issues: Issues) => parseShape(shape, v, path, issues);
    return schema<ShapeOut<T>, ShapeIn<T> | undefined>('section', 'object', check);
  },
  optional<O, I>(inner: Schema<O, I>) {
    return schema<O | undefined, I | undefined>('optional', inner.type, (v, path, issues) =>
      inner.parse(v, path, issues),
    );
  },
};

/** A size param's value in MiB. */
export function sizeMiB(v: string): number {
  const [, n, unit] = SIZE.exec(v) ?? [];
  return Number(n) * (unit === 'G' ? 1024 : 1);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * Parses an object against a shape: missing and mistyped fields are errors, unknown keys warnings.
 * `path` names the object in messages; '' for a top level (fields are then named by their key alone).
 */
export function parseShape<T extends Shape>(
  shape: T,
  v: unknown,
  path: string,
  issues: Issues,
): ShapeOut<T> | undefined {
  if (v === undefined) v = {};
  if (!isPlainObject(v)) return void issues.errors.push(`${path}: ${show(v)} is not an object`);
  const out: Record<string, unknown> = {};
  // Shape order is walk order: a later field's check may rely on an earlier one's (a host's recipe on `recipes`).
  const at = (k: string) => (path ? `${path}.${k}` : k);
  for (const [k, s] of Object.entries(shape)) {
    const parsed = s.parse(v[k], at(k), issues);
    if (parsed !== undefined) out[k] = parsed;
  }
  for (const k of Object.keys(v)) if (!(k in shape)) issues.warnings.push(`${at(k)}: unknown key (ignored)`);
  return out as ShapeOut<T>;
}
