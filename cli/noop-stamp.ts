// The no-op stamp: what a build that found every step cached read (files by signature, the
// environment variables it looked at, the upstream URLs its fingerprints asked), written beside
// the config. The same command, run again, compares them before loading the engine: if none
// changed, the engine would decide the same again (every step cached), so the stamp's report is
// printed and the process exits (cli/fast-noop.ts). Anything changed, missing or unreadable
// means the normal build runs. Only node builtins here (and base/file-signature.ts, which imports
// nothing): the fast path loads this alone.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { statSignature, tooRecent } from '../base/file-signature.js';
import { SEARCH_PLACES } from './config-places.js';

// Taken when this module loads, before a trace (cli/noop-trace.ts) wraps fs: a signature is
// the trace's own look at a file, not a read of the build's.
const { lstatSync, statSync, existsSync } = fs;

export const STAMP_VERSION = 1;

/** NETBOOT_FAST_NOOP=0 turns the fast no-op off (and stops writing stamps). */
export const FAST_NOOP_ENV = 'NETBOOT_FAST_NOOP';

export interface StampUrl {
  url: string;
  digest: string | null;
  etag?: string;
  lastModified?: string;
}

export interface Stamp {
  version: typeof STAMP_VERSION;
  /** What the process was: a stamp is only ever read by the same command in the same place. */
  argv: string[];
  cwd: string;
  configFile: string;
  /** path -> signature (null: absent), the netboot bundle's own included. */
  files: Record<string, string | null>;
  /** name -> sha256 of the value (null: unset); `all` when the run listed the environment. */
  env: Record<string, string | null>;
  envListed: boolean;
  /** The upstream files the fingerprints asked (online builds). */
  urls: StampUrl[];
  /** The build's report, as a build without a terminal prints it. A build that warned gets no stamp. */
  out: string[];
}

const digest = (v: string) => createHash('sha256').update(v).digest('hex');

/**
 * Who a path is, by lstat: device, inode, size, mode, mtime and ctime in ns (any write or chmod
 * moves ctime), and for a symlink also its target's. null: nothing there.
 */
export function signature(path: string): string | null {
  try {
    const l = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    if (!l) return null;
    const sig = statSignature(l);
    if (!l.isSymbolicLink()) return sig;
    const t = statSync(path, { bigint: true, throwIfNoEntry: false });
    return `${sig}>${t ? statSignature(t) : '-'}`;
  } catch (e) {
    // A file where a directory was (ENOTDIR), no permission, a link loop: that is a state too.
    return `error:${(e as NodeJS.ErrnoException).code ?? 'unknown'}`;
  }
}

/** Whether a signature (its symlink target's too) is too recent against `sinceNs` to trust (base/file-signature.ts). */
export function racy(sig: string | null, sinceNs: bigint): boolean {
  return sig?.split('>').some((part) => tooRecent(part, sinceNs)) ?? false;
}

/** The config file a command names (--config, -c) or the nearest one from cwd upwards, as findConfig finds it. */
export function configFileOf(argv: string[], cwd: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if ((a === '--config' || a === '-c') && i + 1 < argv.length) return resolve(cwd, argv[i + 1]);
    if (a.startsWith('--config=')) return resolve(cwd, a.slice('--config='.length));
  }
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    for (const name of SEARCH_PLACES) if (existsSync(join(dir, name))) return join(dir, name);
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Where the stamp of this command lives: beside the config, named by everything that made the
 * process, netboot's own code (`code`: the bundle, dist/netboot.js) included, so that another
 * install of netboot never takes this one's answers.
 */
export function stampPath(configFile: string, argv: string[], cwd: string, code: string): string {
  const who = JSON.stringify([STAMP_VERSION, process.version, process.getuid?.() ?? -1, code, cwd, argv]);
  return join(dirname(configFile), '.netboot', 'noop', `${digest(who).slice(0, 32)}.json`);
}

export function envOf(read: Map<string, string | undefined>, listed: boolean, env: NodeJS.ProcessEnv) {
  const out: Record<string, string | null> = {};
  const names = listed ? new Set([...read.keys(), ...Object.keys(env)]) : read.keys();
  for (const k of names) {
    const v = listed ? env[k] : read.get(k);
    out[k] = v === undefined ? null : digest(v);
  }
  return out;
}

/** What changed since the stamp was written, by stat and env alone (URLs are asked apart); undefined: nothing. */
export function changedLocally(s: Stamp, env: NodeJS.ProcessEnv): string | undefined {
  for (const [k, want] of Object.entries(s.env)) {
    const v = env[k];
    if ((v === undefined ? null : digest(v)) !== want) return `environment variable ${k}`;
  }
  if (s.envListed) for (const k of Object.keys(env)) if (!(k in s.env)) return `environment variable ${k}`;
  for (const [path, want] of Object.entries(s.files)) if (signature(path) !== want) return path;
  return undefined;
}
