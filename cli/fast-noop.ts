// The fast no-op: loaded by bin/netboot.js before the engine, with node builtins only (and
// core/http-get.js when a stamp names upstream URLs). It answers a build whose stamp
// (cli/noop-stamp.ts) still matches, and leaves everything else to the normal path.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getDigest } from '../core/http-get.js';
import {
  changedLocally,
  configFileOf,
  FAST_NOOP_ENV,
  STAMP_VERSION,
  type Stamp,
  type StampUrl,
  stampPath,
} from './noop-stamp.js';

// This file is dist/fast-noop.js, beside the bundle whose decisions the stamps hold.
const BUNDLE = fileURLToPath(new URL('./netboot.js', import.meta.url));

export interface FastIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/**
 * The exit code if the stamp answered the command; undefined: run it normally.
 * NETBOOT_FAST_NOOP=why says on stderr which it was, and why.
 */
export async function fastNoop(argv: string[], io: FastIo): Promise<number | undefined> {
  const mode = io.env[FAST_NOOP_ENV];
  if (mode === '0' || !argv.includes('build')) return undefined;
  const why = await staleBecause(argv, io);
  if (mode === 'why') io.err(`netboot: no-op stamp: ${why ?? 'nothing changed; answered from it'}`);
  if (why !== undefined) return undefined;
  return 0;
}

async function staleBecause(argv: string[], io: FastIo): Promise<string | undefined> {
  const config = configFileOf(argv, io.cwd);
  if (!config) return 'no config file found';
  let s: Stamp;
  try {
    s = JSON.parse(readFileSync(stampPath(config, argv, io.cwd, BUNDLE), 'utf8')) as Stamp;
  } catch {
    return 'none for this command yet'; // or unreadable: the build writes a new one
  }
  if (s.version !== STAMP_VERSION || s.cwd !== io.cwd || s.configFile !== config) return 'written by another version';
  if (JSON.stringify(s.argv) !== JSON.stringify(argv)) return 'written for another command';
  const changed = changedLocally(s, io.env);
  if (changed !== undefined) return `${changed} changed`;
  if (s.urls.length && !(await unchangedUpstream(s.urls))) return 'an upstream file changed (or did not answer)';
  for (const line of s.out) io.out(line);
  return undefined;
}

/** Every URL asked again, at once, with the stamp's validators: each must answer what it did. */
export async function unchangedUpstream(urls: StampUrl[]): Promise<boolean> {
  const signal = AbortSignal.timeout(30_000);
  const same = await Promise.all(
    urls.map(async (u) => {
      const headers: Record<string, string> = {};
      if (u.etag) headers['if-none-match'] = u.etag;
      if (u.lastModified) headers['if-modified-since'] = u.lastModified;
      try {
        const a = await getDigest(u.url, headers, signal);
        if (a.status === 304) return !!(u.etag || u.lastModified);
        return a.status === 404 ? u.digest === null : a.status === 200 && a.digest === u.digest;
      } catch {
        return false; // the normal path asks again and says what went wrong
      }
    }),
  );
  return same.every(Boolean);
}
