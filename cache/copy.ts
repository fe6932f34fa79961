import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { restoreModes } from './read-only.js';
import type { ManifestEntry } from './tree.js';

const run = promisify(execFile);

/** cp's own words on failure, and ENOSPC as the code when it ran out of space, so callers can say DISK_FULL. */
export class CopyError extends Error {
  constructor(
    readonly stderr: string,
    readonly code: string | undefined,
    readonly path: string,
    cause: unknown,
  ) {
    const said = stderr.trim().split('\n').slice(-3).join(' | ');
    super(`cp into ${path} failed: ${said || (cause as Error).message}`, { cause });
  }
}

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
  try {
    await run('cp', ['-a', '--reflink=auto', `${src}/.`, dest], { signal, maxBuffer: 1 << 24 });
  } catch (e) {
    if (signal?.aborted) throw e;
    const stderr = String((e as { stderr?: string }).stderr ?? '');
    throw new CopyError(stderr, /No space left on device/.test(stderr) ? 'ENOSPC' : undefined, dest, e);
  }
  if (manifest) restoreModes(dest, manifest);
}

/** A private copy of one file (a disk image) that keeps its holes and shares extents where it can. */
export async function copySparseFile(src: string, dest: string): Promise<void> {
  await run('cp', ['--reflink=auto', '--sparse=always', src, dest]);
}
