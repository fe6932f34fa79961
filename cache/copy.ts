import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { restoreModes } from './read-only.js';
import type { ManifestEntry } from './tree.js';

const run = promisify(execFile);

/**
 * A private copy of a directory tree into `dest` (made if missing): modes, owners, symlinks,
 * hard links and device nodes kept, extents shared (reflink) where the file system can. A cache
 * tree's files are stored read-only: given its manifest, the copy gets the true modes back.
 */
export async function copyTree(
  src: string,
  dest: string,
  signal?: AbortSignal,
  manifest?: ManifestEntry[],
): Promise<void> {
  await mkdir(dest, { recursive: true });
  await run('cp', ['-a', '--reflink=auto', `${src}/.`, dest], { signal, maxBuffer: 1 << 24 });
  if (manifest) restoreModes(dest, manifest);
}

/** A private copy of one file (a disk image) that keeps its holes and shares extents where it can. */
export async function copySparseFile(src: string, dest: string): Promise<void> {
  await run('cp', ['--reflink=auto', '--sparse=always', src, dest]);
}
