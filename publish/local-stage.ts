import { execFile } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync } from 'node:fs';
import { chmod, chown, copyFile, lchown, symlink } from 'node:fs/promises';
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
 * How long staging runs synchronous link() and lstat() calls before yielding to the event loop.
 * A republish is 30k of each, and a promise per call cost twice what `cp -al` takes for the
 * whole tree; slices keep progress output moving.
 */
const SLICE_MS = 20;

/**
 * Directories and special entries first, in manifest order (parents before children); then the
 * files: linked by synchronous calls in time slices, copied (the rare file that cannot be
 * shared) without blocking.
 */
export async function stageItem(s: Staging, it: PlannedItem): Promise<void> {
  const files: ManifestEntry[] = [];
  for (const e of it.entries) {
    if (e.type === 'file') {
      files.push(e);
      ensureDir(s, dirname(join(s.dir, e.path)));
      continue;
    }
    s.entries.push(e);
    await placeSpecial(s, e);
  }
  let yieldAt = performance.now() + SLICE_MS;
  for (const e of files) {
    s.entries.push(await placeFile(s, it, e));
    if (performance.now() >= yieldAt) {
      await new Promise((r) => setImmediate(r));
      yieldAt = performance.now() + SLICE_MS;
    }
  }
}

function ensureDir(s: Staging, dir: string): void {
  if (s.made.has(dir)) return;
  mkdirSync(dir, { recursive: true });
  s.made.add(dir);
}

/** A directory, a symlink or a device node, with its owner and mode. */
async function placeSpecial(s: Staging, e: ManifestEntry): Promise<void> {
  const dest = join(s.dir, e.path);
  if (e.type === 'dir') {
    ensureDir(s, dest);
    await chown(dest, e.uid, e.gid);
    await chmod(dest, e.mode);
    return;
  }
  ensureDir(s, dirname(dest));
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
  const fromPrev = !!s.prevDir && !!p && sameFile(p, e) && tryLink(join(s.prevDir, e.path), dest);
  if (fromPrev || (linkable(it, e) && tryLink(it.source(e), dest))) s.result.linked++;
  else {
    await copyFile(it.source(e), dest);
    await chown(dest, e.uid, e.gid);
    await chmod(dest, e.mode);
    s.result.copied++;
    s.result.bytesWritten += e.size ?? 0;
  }
  // What is there: a file shared with the cache has its stored mode (no write bits), not the artifact's.
  const st = lstatSync(dest, { bigint: true });
  s.rows[e.path] = statRow(st);
  return { ...e, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
}

export function sameFile(a: ManifestEntry, b: ManifestEntry): boolean {
  return a.type === 'file' && a.digest === b.digest && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;
}

/** Cache objects are 0444 root files: a release may share them only where that is what it asks for. */
export function linkable(it: PlannedItem, e: ManifestEntry): boolean {
  return it.artifact.kind === 'tree' || ((e.mode === 0o444 || e.mode === 0o644) && e.uid === 0 && e.gid === 0);
}

function tryLink(src: string, dest: string): boolean {
  try {
    linkSync(src, dest);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK' || code === 'ENOENT') return false;
    throw e;
  }
}
