// The lock phase, before a build's graphs are made: every upstream index the selected hosts need is
// taken from netboot.lock; only an index the lock lacks an entry of is fetched, checked against
// what the lock already holds of it, and its new entries added (never under --frozen).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { errors } from '../base/errors.js';
import type { LockEntry, UpstreamIndex } from '../core/recipe.js';
import type { LockFile } from './lock.js';

export interface PinOptions {
  /** False offline: a missing entry stays unpinned, and the step that needs it says so. */
  fetch: boolean;
  frozen: boolean;
  signal: AbortSignal;
  warn?: (message: string) => void;
}

/** Walks `names` and their deps through `entries`: which are there, which are not. */
export function reach(names: string[], entries: Record<string, LockEntry>) {
  const have = new Set<string>();
  const missing = new Set<string>();
  const walk = (n: string) => {
    if (have.has(n) || missing.has(n)) return;
    const e = entries[n];
    if (!e) return void missing.add(n);
    have.add(n);
    for (const d of e.deps ?? []) walk(d);
  };
  for (const n of names) walk(n);
  return { have: [...have].sort(), missing: [...missing].sort() };
}

/** Merges indexes of the same lock name (two hosts of one release): one fetch, all their names. */
function merged(indexes: UpstreamIndex[]): UpstreamIndex[] {
  const by = new Map<string, UpstreamIndex>();
  for (const i of indexes) {
    const seen = by.get(i.lock);
    by.set(i.lock, seen ? { ...seen, names: [...new Set([...seen.names, ...i.names])] } : i);
  }
  return [...by.values()];
}

/** Brings `lock` up to date for `indexes`; true when it changed (the caller writes it). */
export async function updateLock(
  lockFile: string,
  lock: LockFile,
  indexes: UpstreamIndex[],
  o: PinOptions,
): Promise<boolean> {
  let changed = false;
  for (const idx of merged(indexes)) {
    const locked = lock.indexes[idx.lock];
    const { missing } = reach(idx.names, locked?.entries ?? {});
    if (!missing.length) continue;
    if (o.frozen) throw errors.lockFrozen(lockFile, idx.lock, missing);
    if (!o.fetch) {
      const what = `${lockFile}: ${idx.lock}: ${missing.join(', ')}`;
      o.warn?.(`${what} not locked yet; offline, they stay unpinned (build once online)`);
      continue;
    }
    const { url, bytes } = await fetchFirst(idx, o.signal);
    const fresh = await idx.read(bytes, url);
    for (const [name, e] of Object.entries(locked?.entries ?? {}))
      if (fresh[name] && fresh[name].sha256 !== e.sha256)
        throw errors.lockMismatch(lockFile, idx.lock, name, e.sha256, fresh[name].sha256, url);
    const found = reach(idx.names, fresh);
    if (found.missing.length) throw errors.indexEntryMissing(url, found.missing.join(', '), idx.where);
    const entries = { ...locked?.entries };
    for (const n of found.have) entries[n] ??= fresh[n];
    lock.indexes[idx.lock] = { url: locked?.url ?? url, entries };
    changed = true;
  }
  return changed;
}

/** The first of `urls` that exists (a 404 moves on to the next); file:// URLs are read directly. */
async function fetchFirst(idx: UpstreamIndex, signal: AbortSignal): Promise<{ url: string; bytes: Buffer }> {
  const tried: string[] = [];
  for (const url of idx.urls) {
    try {
      if (url.startsWith('file:')) return { url, bytes: await readFile(fileURLToPath(url)) };
      const res = await fetch(url, { signal, redirect: 'follow' });
      if (res.ok) return { url, bytes: Buffer.from(await res.arrayBuffer()) };
      await res.body?.cancel().catch(() => {});
      tried.push(`${url}: HTTP ${res.status}`);
      if (res.status !== 404 && res.status !== 410) break;
    } catch (e) {
      if (signal.aborted) throw e;
      const err = e as NodeJS.ErrnoException & { cause?: Error };
      tried.push(`${url}: ${err.code === 'ENOENT' ? 'no such file' : (err.cause?.message ?? err.message)}`);
    }
  }
  throw errors.fetchFailed(
    idx.urls[0],
    tried.join('; '),
    `netboot needs it once, to pin ${idx.names.join(', ')} in netboot.lock${idx.hint ? `; ${idx.hint}` : ''}`,
  );
}
