// Watches what one build reads, so that a later identical command can tell, by stat alone,
// that nothing it read has changed (cli/noop-stamp.ts). Everything a build's decisions depend
// on reaches it through node's fs (the config and what it reads, netboot.lock, the cache's
// records and stat rows, tool binaries, sources, stored fingerprints), process.env, or the
// network. Watching node's fs module itself, rather than each reader, is what keeps a reader
// added later from being forgotten.
import { constants } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signature } from './noop-stamp.js';

const require = createRequire(import.meta.url);
type Mod = Record<string, unknown>;

// Functions whose first argument is a path the build reads (or looks for).
const READS: Record<string, string[]> = {
  fs: [
    'existsSync',
    'statSync',
    'lstatSync',
    'readFileSync',
    'readdirSync',
    'readlinkSync',
    'realpathSync',
    'accessSync',
    'opendirSync',
    'createReadStream',
    'stat',
    'lstat',
    'readFile',
    'readdir',
    'readlink',
    'realpath',
    'access',
    'exists',
  ],
  'fs/promises': ['stat', 'lstat', 'readFile', 'readdir', 'readlink', 'realpath', 'access', 'opendir'],
};
// open() reads only when it opens a file for reading: not to write one, nor a directory to fsync it.
const OPENS: Record<string, string[]> = { fs: ['open', 'openSync'], 'fs/promises': ['open'] };
const { O_RDONLY, O_WRONLY, O_RDWR, O_DIRECTORY } = constants;
const readOnly = (flags: unknown) =>
  flags === undefined ||
  flags === 'r' ||
  flags === 'rs' ||
  (typeof flags === 'number' && (flags & (O_WRONLY | O_RDWR | O_RDONLY)) === O_RDONLY && !(flags & O_DIRECTORY));
// A build that starts a program learned something no stat can check again.
const PROGRAMS: Record<string, string[]> = {
  child_process: ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'],
};
// Requests are counted: each must be one the fingerprints' URL digests made (and can ask again).
const REQUESTS: Record<string, string[]> = { http: ['request', 'get'], https: ['request', 'get'] };

export interface TraceResult {
  /** When the trace began (ns since the epoch): every signature was taken after it. */
  startNs: bigint;
  /** Every path read, with its signature before the first read (null: it did not exist). */
  files: Map<string, string | null>;
  /** Environment variables read, with their values then; `all` if the environment was listed. */
  env: Map<string, string | undefined>;
  envListed: boolean;
  /** Why what this run read cannot be checked again by stat, if it cannot. */
  unchecked?: string;
  requests: number;
}

export interface Trace {
  /** Puts everything back; a second call only returns the result. */
  stop(): TraceResult;
}

function pathOf(arg: unknown): string | undefined {
  // node's own module loader reads through fs/promises too, with file: URLs as strings.
  if (typeof arg === 'string') return arg.startsWith('file:') ? fileURLToPath(arg) : resolve(arg);
  if (arg instanceof URL && arg.protocol === 'file:') return fileURLToPath(arg);
  if (Buffer.isBuffer(arg)) return resolve(arg.toString());
  return undefined;
}

/** Starts watching; `stop` puts every function and process.env back as they were. */
export function startTrace(): Trace {
  const result: TraceResult = {
    startNs: BigInt(Date.now()) * 1_000_000n,
    files: new Map(),
    env: new Map(),
    envListed: false,
    requests: 0,
  };
  const restore: (() => void)[] = [];
  const patch = (groups: Record<string, string[]>, wrap: (orig: Function) => Function) => {
    for (const [name, fns] of Object.entries(groups)) {
      const mod = require(`node:${name}`) as Mod;
      for (const fn of fns) {
        const orig = mod[fn] as Function | undefined;
        if (typeof orig !== 'function') continue;
        const wrapped = wrap(orig);
        // realpathSync.native and friends hang off the function itself.
        for (const k of Object.keys(orig)) (wrapped as unknown as Mod)[k] = (orig as unknown as Mod)[k];
        mod[fn] = wrapped;
        restore.push(() => (mod[fn] = orig));
      }
    }
  };
  const seen = (arg: unknown) => {
    const path = pathOf(arg);
    // The kernel's views (a lock's look at whether its owner lives) are no input of a step.
    if (path === undefined || /^\/(proc|sys|dev)\//.test(path)) return;
    // Taken before the read: if the file changes in between, the next check sees a change.
    if (!result.files.has(path)) result.files.set(path, signature(path));
  };
  patch(
    READS,
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        // A recursive listing reads directories below the one named, which no signature of it shows.
        if ((args[1] as { recursive?: boolean } | undefined)?.recursive) result.unchecked ??= 'it listed a tree';
        seen(args[0]);
        return orig.apply(this, args);
      },
  );
  patch(
    OPENS,
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        if (readOnly(args[1])) seen(args[0]);
        return orig.apply(this, args);
      },
  );
  patch(
    PROGRAMS,
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        result.unchecked ??= `it ran ${String(args[0])}`;
        return orig.apply(this, args);
      },
  );
  patch(
    REQUESTS,
    (orig) =>
      function (this: unknown, ...args: unknown[]) {
        result.requests++;
        return orig.apply(this, args);
      },
  );
  const fetch = globalThis.fetch;
  globalThis.fetch = (...args: Parameters<typeof fetch>) => {
    result.unchecked ??= 'it used fetch()';
    return fetch(...args);
  };
  restore.push(() => (globalThis.fetch = fetch));
  syncBuiltinESMExports();

  const env = process.env;
  const note = (k: string | symbol) => {
    if (typeof k === 'string' && !result.env.has(k)) result.env.set(k, env[k]);
  };
  const listed = () => {
    result.envListed = true;
  };
  process.env = new Proxy(env, {
    get(t, k) {
      note(k);
      return Reflect.get(t, k);
    },
    has(t, k) {
      note(k);
      return Reflect.has(t, k);
    },
    getOwnPropertyDescriptor(t, k) {
      note(k);
      return Reflect.getOwnPropertyDescriptor(t, k);
    },
    set(t, k, v) {
      note(k);
      return Reflect.set(t, k, v);
    },
    deleteProperty(t, k) {
      note(k);
      return Reflect.deleteProperty(t, k);
    },
    ownKeys(t) {
      listed();
      return Reflect.ownKeys(t);
    },
  });
  restore.push(() => (process.env = env));

  return {
    stop() {
      for (const undo of restore.reverse()) undo();
      restore.length = 0;
      syncBuiltinESMExports();
      return result;
    },
  };
}
