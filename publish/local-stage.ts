import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, lchown, link, lstat, mkdir, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { devMajorMinor, type ManifestEntry } from '../cache/tree.js';
import { statRow } from './release-check.js';
import type { PlannedItem, StageResult } from './target.js';

const run = promisify(execFile);

/** A release being staged: where, what the live one offers for linking, and what was placed. */
export interface Staging {
  dir: string;
  prevDir?: string;
  prevFiles: Map<string, ManifestEntry>;
  result: StageResult;
  rows: Record<string, string>;
  entries: ManifestEntry[];
  /** Directories already made, so each costs one mkdir. */
  made: Set<string>;
}

/**
 * Directories and special entries first, in manifest order (parents before children); then the
 * files, linked many at a time: a tree of 30k files is 30k link() calls, and one at a time they
 * wait on each other.
 */
export async function stageItem(s: Staging, it: PlannedItem): Promise<void> {
  const files: ManifestEntry[] = [];
  for (const e of it.entries) {
    if (e.type === 'file') {
      files.push(e);
      await ensureDir(s, dirname(join(s.dir, e.path)));
      continue;
    }
    s.entries.push(e);
    await placeSpecial(s, e);
  }
  s.entries.push(...(await mapLimit(files, 16, (e) => placeFile(s, it, e))));
}

async function ensureDir(s: Staging, dir: string): Promise<void> {
  if (s.made.has(dir)) return;
  await mkdir(dir, { recursive: true });
  s.made.add(dir);
}

/** A directory, a symlink or a device node, with its owner and mode. */
async function placeSpecial(s: Staging, e: ManifestEntry): Promise<void> {
  const dest = join(s.dir, e.path);
  if (e.type === 'dir') {
    await ensureDir(s, dest);
    await chown(dest, e.uid, e.gid);
    await chmod(dest, e.mode);
    return;
  }
  await ensureDir(s, dirname(dest));
  if (e.type === 'symlink') {
    await symlink(e.target!, dest);
    await lchown(dest, e.uid, e.gid);
    return;
  }
  const kind = e.type === 'char' ? 'c' : e.type === 'block' ? 'b' : 'p';
  await run('mknod', [dest, kind, ...(e.type === 'fifo' ? [] : devMajorMinor(e.rdev ?? 0).map(String))]);
  await chown(dest, e.uid, e.gid);
  await chmod(dest, e.mode);
}

/** A file: a link to the live release's copy or to the cache where it may be shared, else a copy. */
async function placeFile(s: Staging, it: PlannedItem, e: ManifestEntry): Promise<ManifestEntry> {
  const dest = join(s.dir, e.path);
  const p = s.prevFiles.get(e.path);
  const fromPrev = !!s.prevDir && !!p && sameFile(p, e) && (await tryLink(join(s.prevDir, e.path), dest));
  if (fromPrev || (linkable(it, e) && (await tryLink(it.source(e), dest)))) s.result.linked++;
  else {
    await copyFile(it.source(e), dest);
    await chown(dest, e.uid, e.gid);
    await chmod(dest, e.mode);
    s.result.copied++;
    s.result.bytesWritten += e.size ?? 0;
  }
  // What is there: a file shared with the cache has its stored mode (no write bits), not the artifact's.
  const st = await lstat(dest, { bigint: true });
  s.rows[e.path] = statRow(st);
  return { ...e, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
}

/** fn over items with at most `limit` in flight, results in input order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export function sameFile(a: ManifestEntry, b: ManifestEntry): boolean {
  return a.type === 'file' && a.digest === b.digest && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;
}

/** Cache objects are 0444 root files: a release may share them only where that is what it asks for. */
export function linkable(it: PlannedItem, e: ManifestEntry): boolean {
  return it.artifact.kind === 'tree' || ((e.mode === 0o444 || e.mode === 0o644) && e.uid === 0 && e.gid === 0);
}

async function tryLink(src: string, dest: string): Promise<boolean> {
  try {
    await link(src, dest);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK' || code === 'ENOENT') return false;
    throw e;
  }
}
