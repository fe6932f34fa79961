// netboot.lock, beside the config: every digest netboot trusted on first fetch of an upstream index
// (a FreeBSD release's MANIFEST, a pkg catalog), so that later builds are pinned. JSON with sorted
// keys and one entry per line group, written whole (temp file, fsync, rename), meant to be committed.
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isMissing } from '../base/errno.js';
import { errors } from '../base/errors.js';
import type { LockEntry, Pins } from '../core/recipe.js';

export const LOCK_FILE = 'netboot.lock';

export interface LockedIndex {
  /** Where the index was fetched from when its first entry was trusted. */
  url: string;
  entries: Record<string, LockEntry>;
}

export interface LockFile {
  version: 1;
  indexes: Record<string, LockedIndex>;
}

export const lockPins = (lock: LockFile): Pins => ({ index: (name) => lock.indexes[name] });

export async function readLock(file: string): Promise<LockFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (isMissing(e)) return { version: 1, indexes: {} };
    throw errors.lockInvalid(file, (e as Error).message);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw errors.lockInvalid(file, `not JSON: ${(e as Error).message}`);
  }
  return checkLock(raw, file);
}

const SHA = /^[0-9a-f]{64}$/;

function checkLock(raw: unknown, file: string): LockFile {
  const o = raw as LockFile;
  if (!o || typeof o !== 'object' || o.version !== 1 || !o.indexes || typeof o.indexes !== 'object')
    throw errors.lockInvalid(file, 'expected {"version": 1, "indexes": {...}}');
  for (const [name, idx] of Object.entries(o.indexes)) {
    if (!idx || typeof idx.url !== 'string' || !idx.entries || typeof idx.entries !== 'object')
      throw errors.lockInvalid(file, `indexes["${name}"] needs a url and entries`);
    for (const [entry, e] of Object.entries(idx.entries))
      if (!e || typeof e.sha256 !== 'string' || !SHA.test(e.sha256))
        throw errors.lockInvalid(file, `indexes["${name}"].entries["${entry}"].sha256 is not a sha256`);
  }
  return o;
}

/** The same lock always gives the same bytes: keys sorted at every level. */
export function renderLock(lock: LockFile): string {
  return `${JSON.stringify(sortKeys(lock), null, 2)}\n`;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!v || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
  );
}

/** Writes the whole lock or nothing: a temp file beside it, fsynced, renamed over it. */
export async function writeLock(file: string, lock: LockFile): Promise<void> {
  const tmp = join(dirname(file), `.${LOCK_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
  const fd = await open(tmp, 'wx', 0o644);
  try {
    await fd.writeFile(renderLock(lock));
    await fd.sync();
    await fd.close();
    await rename(tmp, file);
  } catch (e) {
    await fd.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}
