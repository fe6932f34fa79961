import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** The prefix of names in tmp/ that hold something being deleted: nothing ever reads them. */
const TRASH_PREFIX = 'trash-';

/**
 * Deletes a file or tree by first renaming it into `tmpDir` (same file system), then removing
 * it there. A kill at any instant leaves either the whole entry under its name or a trash name
 * that the next gc removes, never a half-deleted entry under its real name.
 */
export async function discard(tmpDir: string, path: string): Promise<void> {
  const trash = join(tmpDir, `${TRASH_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await rename(path, trash);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await rm(trash, { recursive: true, force: true });
}
