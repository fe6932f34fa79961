import { chmodSync } from 'node:fs';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManifestEntry } from './tree.js';

/**
 * Every cache object's mtime (seconds). A write in place sets mtime to now, so one lstat tells a
 * damaged object from a good one; cp -a, rsync -a and tar keep it, so a copied cache stays good.
 * 1980: the oldest time every archive format can hold (zip starts there).
 */
export const OBJECT_MTIME = 315532800;

export async function pinObject(path: string): Promise<void> {
  await utimes(path, OBJECT_MTIME, OBJECT_MTIME);
}

/**
 * The mode a tree's entry has in the cache: a regular file without its write bits, since the
 * same inode is hard-linked into releases. The manifest keeps the true mode; whoever copies the
 * tree or packs it takes modes from the manifest.
 */
function storedMode(e: ManifestEntry): number {
  return e.type === 'file' ? e.mode & ~0o222 : e.mode;
}

/** Whether a mode on disk is the stored one (or the true one: a tree stored before files were read-only). */
export function modeAsStored(e: ManifestEntry, onDisk: number): boolean {
  return onDisk === storedMode(e) || onDisk === e.mode;
}

/** Makes a tree's regular files read-only, after its manifest (with the true modes) was computed. */
export function stripWriteBits(dir: string, entries: ManifestEntry[]): void {
  for (const e of entries) if (e.type === 'file' && e.mode & 0o222) chmodSync(join(dir, e.path), storedMode(e));
}

/** Gives a private copy of a cache tree the manifest's modes back. */
export function restoreModes(dir: string, entries: ManifestEntry[]): void {
  // Synchronous: a chmod is a few microseconds, a promise per file costs more than the call.
  for (const e of entries) if (e.type === 'file' && e.mode & 0o222) chmodSync(join(dir, e.path), e.mode);
}
