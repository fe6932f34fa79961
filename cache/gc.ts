import { lstat, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ifMissing } from '../base/errno.js';
import type { Artifact } from './artifact.js';
import { ownerAlive } from './lock.js';
import { detachMounts } from './mounts.js';
import { type ActionRecord, type Cache, listDir } from './store.js';
import { discard } from './trash.js';

/**
 * What gc keeps whatever its age, as Nix's GC roots: action records by key (with everything they
 * name) and artifacts by digest. Its sources: each host's last build (historyRoots in
 * cache/history.ts), the releases on the SAN (publish/roots.ts), and any artifacts to keep.
 */
export interface GcRoots {
  keys: ReadonlySet<string>;
  digests: ReadonlySet<string>;
}

/** Roots that name artifacts only. */
export const artifactRoots = (keep: Iterable<Artifact>): GcRoots => ({
  keys: new Set(),
  digests: new Set([...keep].map((a) => a.digest)),
});

export interface GcOptions {
  roots: GcRoots[];
  /** Unreferenced action records older than this go (default 14 days). */
  keepDays?: number;
  /** Then remove the oldest unreferenced records until the cache is at most this many bytes. */
  maxSize?: number;
  dryRun?: boolean;
}

export interface GcResult {
  actionsRemoved: number;
  objectsRemoved: number;
  treesRemoved: number;
  tempsRemoved: number;
  bytesFreed: number;
  bytesKept: number;
}

interface RecordInfo {
  path: string;
  rec: ActionRecord;
  mtimeMs: number;
  size: number;
}

/**
 * Mark and sweep from `roots`. Action records not reachable from a root are removed when old
 * enough (or to meet --max-size, oldest first); then objects and trees that no remaining record
 * or root names are removed.
 */
export async function collect(cache: Cache, o: GcOptions): Promise<GcResult> {
  const res: GcResult = {
    actionsRemoved: 0,
    objectsRemoved: 0,
    treesRemoved: 0,
    tempsRemoved: 0,
    bytesFreed: 0,
    bytesKept: 0,
  };
  const live = new Set<string>(o.roots.flatMap((r) => [...r.digests]));
  const rootKeys = new Set<string>(o.roots.flatMap((r) => [...r.keys]));

  const records = await readRecords(cache, res, o.dryRun);
  const doomed = doomedRecords(records, rootKeys, o);
  for (const r of records) {
    if (doomed.has(r)) {
      res.actionsRemoved++;
      if (!o.dryRun) await rm(r.path, { force: true });
      continue;
    }
    for (const a of Object.values(r.rec.outputs)) live.add(a.digest);
    if (r.rec.log) live.add(r.rec.log);
  }
  await sweepTrees(cache, live, res, o.dryRun);
  await sweepObjects(cache, live, res, o.dryRun);
  await sweepLeftovers(cache, res, o.dryRun);
  return res;
}

/** Every readable action record; temp files met on the way are removed. */
async function readRecords(cache: Cache, res: GcResult, dryRun?: boolean): Promise<RecordInfo[]> {
  const records: RecordInfo[] = [];
  for (const sub of await listDir(join(cache.root, 'actions')))
    for (const name of await listDir(join(cache.root, 'actions', sub))) {
      const path = join(cache.root, 'actions', sub, name);
      if (name.startsWith('.tmp-')) {
        await removeTemp(path, res, dryRun);
        continue;
      }
      const info = await readRecord(path);
      if (info) records.push(info);
    }
  return records;
}

/** Unrooted records older than the cutoff, then the oldest unrooted ones until the size fits. */
function doomedRecords(records: RecordInfo[], rootKeys: Set<string>, o: GcOptions): Set<RecordInfo> {
  const cutoff = Date.now() - (o.keepDays ?? 14) * 86_400_000;
  const candidates = records.filter((r) => !rootKeys.has(r.rec.key)).sort((a, b) => a.mtimeMs - b.mtimeMs);
  const doomed = new Set<RecordInfo>(candidates.filter((r) => r.mtimeMs < cutoff));
  if (o.maxSize !== undefined) {
    let total = records.reduce((s, r) => s + r.size, 0) - [...doomed].reduce((s, r) => s + r.size, 0);
    for (const r of candidates) {
      if (total <= o.maxSize) break;
      if (!doomed.has(r)) {
        doomed.add(r);
        total -= r.size;
      }
    }
  }
  return doomed;
}

async function sweepTrees(cache: Cache, live: Set<string>, res: GcResult, dryRun?: boolean): Promise<void> {
  for (const name of await listDir(join(cache.root, 'trees'))) {
    // A tree without its commit record is never served: a leftover, whoever names it.
    if (live.has(name) && (await cache.treeComplete(name))) continue;
    res.treesRemoved++;
    res.bytesFreed += await du(cache.treePath(name));
    if (!dryRun) {
      // Uncommitted first, then moved away whole: a kill at any instant leaves no partial tree
      // that counts as stored.
      await rm(cache.treeStatPath(name), { force: true });
      await discard(cache.dir('tmp'), cache.treePath(name));
    }
  }
}

async function sweepObjects(cache: Cache, live: Set<string>, res: GcResult, dryRun?: boolean): Promise<void> {
  for (const sub of await listDir(join(cache.root, 'objects')))
    for (const name of await listDir(join(cache.root, 'objects', sub))) {
      const path = join(cache.root, 'objects', sub, name);
      if (name.startsWith('.tmp-')) {
        await removeTemp(path, res, dryRun);
        continue;
      }
      const st = await lstat(path);
      if (live.has(name)) {
        res.bytesKept += st.size;
        continue;
      }
      res.objectsRemoved++;
      res.bytesFreed += st.size;
      if (!dryRun) await rm(path, { force: true });
    }
}

/** Temp names, scratch dirs of dead processes, all trash, and locks whose owner died. */
async function sweepLeftovers(cache: Cache, res: GcResult, dryRun?: boolean): Promise<void> {
  for (const dir of ['statcache', 'hosts', 'fingerprints'] as const)
    for (const name of await listDir(cache.dir(dir)))
      if (name.startsWith('.tmp-')) await removeTemp(join(cache.dir(dir), name), res, dryRun);
  // Scratch dirs of dead processes, and all trash (its first field, "trash", is no live pid).
  for (const name of await listDir(cache.dir('tmp'))) {
    const pid = name.split('-')[0];
    if (!ownerAlive(`${pid} 0`)) await removeTemp(join(cache.dir('tmp'), name), res, dryRun);
  }
  for (const name of await listDir(cache.dir('locks'))) {
    const path = join(cache.dir('locks'), name);
    const owner = await readFile(path, 'utf8').catch(ifMissing(undefined));
    if (owner !== undefined && owner !== '' && !ownerAlive(owner) && !dryRun) await rm(path, { force: true });
  }
}

async function removeTemp(path: string, res: GcResult, dryRun?: boolean) {
  res.tempsRemoved++;
  if (dryRun) return;
  // A step killed while its tree was mounted for editing (core/tree-edit.ts) left the mount.
  await detachMounts(path);
  await rm(path, { recursive: true, force: true });
}

/** A record and its age; none if it went meanwhile or does not parse (verify reports those; gc leaves them). */
async function readRecord(path: string): Promise<RecordInfo | undefined> {
  const text = await readFile(path, 'utf8').catch(ifMissing(undefined));
  if (text === undefined) return undefined;
  let rec: ActionRecord;
  try {
    rec = JSON.parse(text) as ActionRecord;
  } catch {
    return undefined;
  }
  if (typeof rec?.outputs !== 'object' || rec.outputs === null) return undefined;
  const st = await stat(path).catch(ifMissing(undefined));
  return st && { path, rec, mtimeMs: st.mtimeMs, size: artifactsSize(rec) };
}

function artifactsSize(rec: ActionRecord): number {
  return Object.values(rec.outputs).reduce((n, a) => n + a.size, 0);
}

async function du(path: string): Promise<number> {
  let n = 0;
  const st = await lstat(path).catch(ifMissing(undefined));
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  for (const name of await readdir(path)) n += await du(join(path, name));
  return n;
}
