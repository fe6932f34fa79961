import { lstat } from 'node:fs/promises';
import { ifMissing } from '../base/errno.js';
import { errors } from '../base/errors.js';
import { digestLocal } from './local-digest.js';
import { hmacDigest } from './secret-key.js';
import type { Cache } from './store.js';
import { digestTree, hashFile } from './tree.js';

/**
 * A local source's digest as it enters a key. A secret source (a plugin's `secretSources`) is
 * hashed without the stat cache, whose rows would keep its plain digests, and stored as an HMAC.
 * Without `record`, neither stat rows nor a new secret key are written.
 */
export async function sourceDigest(cache: Cache, path: string, secret: boolean, record = true): Promise<string> {
  if (!secret) return digestLocal(cache.dir('statcache'), path, { record });
  const st = await lstat(path).catch(ifMissing(undefined));
  if (!st) throw errors.sourceMissing(path);
  const plain = st.isFile()
    ? `file:${await hashFile(path, st.size)}:${(st.mode & 0o7777).toString(8)}`
    : `tree:${(await digestTree(path)).digest}`;
  return hmacDigest(cache.root, plain, { create: record });
}

/**
 * The engine's source digester on a cache. `record: false` (plan mode) writes nothing: no stat
 * rows, no secret key (a cache without one gets a key of this process only).
 */
export function cacheSources(cache: Cache, o: { record: boolean }) {
  return { digest: (path: string, secret: boolean) => sourceDigest(cache, path, secret, o.record) };
}
