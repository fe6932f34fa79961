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
import { promisify } from 'node:util';
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
// What a build learns other than through a file or an environment variable (a program's output,
// the network, facts of the machine) no signature can check again: such a run gets no stamp.
const UNCHECKED: Record<string, string[]> = {
  child_process: ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'],
  net: ['connect', 'createConnection'],
  tls: ['connect'],
  http2: ['connect'],
  dgram: ['createSocket'],
  dns: ['lookup', 'lookupService', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveTxt', 'reverse'],
  'dns/promises': ['lookup', 'lookupService', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveTxt', 'reverse'],
  os: ['hostname', 'networkInterfaces', 'userInfo'],
  worker_threads: ['Worker'],
};
// os.homedir() and os.tmpdir() read these natively, past the process.env Proxy.
const NATIVE_ENV: Record<string, string[]> = { homedir: ['HOME'], tmpdir: ['TMPDIR', 'TMP', 'TEMP'] };
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

function pathOf(arg: unknown): string | number | undefined {
  // node's own module loader reads through fs/promises too, with file: URLs as strings.
  if (typeof arg === 'string') return arg.startsWith('file:') ? fileURLToPath(arg) : resolve(arg);
  if (arg instanceof URL && arg.protocol === 'file:') return fileURLToPath(arg);
  if (Buffer.isBuffer(arg)) return resolve(arg.toString());
  return typeof arg === 'number' ? arg : undefined;
}

/** Calls `orig` as it was called: as a constructor too (worker_threads.Worker). */
function forward(orig: Function, self: unknown, args: unknown[], target: Function | undefined) {
  return target ? Reflect.construct(orig, args, target) : orig.apply(self, args);
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
  const env = process.env;
  const note = (k: string | symbol) => {
    if (typeof k === 'string' && !result.env.has(k)) result.env.set(k, env[k]);
  };
  const patch = (groups: Record<string, string[]>, before: (args: unknown[], fn: string) => void) => {
    for (const [name, fns] of Object.entries(groups)) {
      const mod = require(`node:${name}`) as Mod;
      for (const fn of fns) {
        const orig = mod[fn] as Function | undefined;
        if (typeof orig !== 'function') continue;
        const wrap = (o: Function) =>
          function (this: unknown, ...args: unknown[]) {
            before(args, fn);
            return forward(o, this, args, new.target);
          };
        const wrapped = wrap(orig) as unknown as Mod;
        // realpathSync.native and friends hang off the function itself; util.promisify's own
        // version (exec, execFile, fs.exists) is watched as the function is.
        for (const k of Object.keys(orig)) wrapped[k] = (orig as unknown as Mod)[k];
        const custom = (orig as unknown as Record<symbol, unknown>)[promisify.custom];
        if (typeof custom === 'function') (wrapped as Record<symbol, unknown>)[promisify.custom] = wrap(custom);
        mod[fn] = wrapped;
        restore.push(() => (mod[fn] = orig));
      }
    }
  };
  const unchecked = (why: string) => {
    result.unchecked ??= why;
  };
  const seen = (arg: unknown) => {
    const path = pathOf(arg);
    if (path === undefined) return;
    // An open descriptor was seen when it was opened; stdin and its kin cannot be looked at again.
    if (typeof path === 'number') return void (path <= 2 && unchecked('it read standard input'));
    // A lock's look at whether its owner still runs is no input of a step; the rest of the kernel's views are.
    if (/^\/proc\/\d+\//.test(path)) return;
    if (/^\/(proc|sys|dev)\//.test(path)) return unchecked(`it read ${path}`);
    // Taken before the read: if the file changes in between, the next check sees a change.
    if (!result.files.has(path)) result.files.set(path, signature(path));
  };
  patch(READS, (args) => {
    // A recursive listing reads directories below the one named, which no signature of it shows.
    if ((args[1] as { recursive?: boolean } | undefined)?.recursive) unchecked('it listed a tree');
    seen(args[0]);
  });
  patch(OPENS, (args) => {
    if (readOnly(args[1])) seen(args[0]);
  });
  // The sockets and lookups that http(s).request makes for a counted request are its own.
  let inRequest = 0;
  patch(UNCHECKED, (args, fn) => {
    if (!inRequest) unchecked(`it called ${fn}(${typeof args[0] === 'string' ? args[0] : ''})`);
  });
  for (const [name, fns] of Object.entries(REQUESTS)) {
    const mod = require(`node:${name}`) as Mod;
    for (const fn of fns) {
      const orig = mod[fn] as Function;
      mod[fn] = function (this: unknown, ...args: unknown[]) {
        result.requests++;
        inRequest++;
        try {
          return orig.apply(this, args);
        } finally {
          inRequest--;
        }
      };
      restore.push(() => (mod[fn] = orig));
    }
  }
  const os = require('node:os') as Mod;
  for (const [fn, vars] of Object.entries(NATIVE_ENV)) {
    const orig = os[fn] as Function;
    os[fn] = (...args: unknown[]) => {
      for (const v of vars) note(v);
      return orig(...args);
    };
    restore.push(() => (os[fn] = orig));
  }
  const fetch = globalThis.fetch;
  globalThis.fetch = (...args: Parameters<typeof fetch>) => {
    unchecked('it used fetch()');
    return fetch(...args);
  };
  restore.push(() => (globalThis.fetch = fetch));
  syncBuiltinESMExports();

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
