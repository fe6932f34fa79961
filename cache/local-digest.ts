import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../base/canonical.js';
import { ifMissing } from '../base/errno.js';
import { errors } from '../base/errors.js';
import { StatCache } from './stat-cache.js';
import { digestTree, hashFile } from './tree.js';

/**
 * Names a file or directory outside the cache the way an artifact of it would be named,
 * re-reading only what changed since the last call (stat cache under statcache/, updated when `record`).
 */
export async function digestLocal(
  statDir: string,
  path: string,
  o: { record: boolean } = { record: true },
): Promise<string> {
  const st = await lstat(path).catch(ifMissing(undefined));
  if (!st) throw errors.sourceMissing(path);
  if (st.isFile()) return `file:${await hashFile(path, st.size)}:${(st.mode & 0o7777).toString(8)}`;
  const cache = await StatCache.open(join(statDir, `${sha256(path)}.json`));
  const t = await digestTree(path, { statCache: cache });
  if (o.record) await cache.save();
  return `tree:${t.digest}`;
}
