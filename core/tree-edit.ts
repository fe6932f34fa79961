import { execFile } from 'node:child_process';
import { chmod, lchown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type DerivedTree, deriveTree } from '../cache/overlay-tree.js';
import type { ManifestEntry } from '../cache/tree.js';

const run = promisify(execFile);

/**
 * Runs `edit` on a writable view of a stored tree: an overlay mounted at `dir`/merged with the
 * tree as its read-only lower dir and `dir`/upper taking every write. `settle` (the step's
 * processes stopped) runs before the unmount, which always runs. The output tree is then
 * derived in `dest` from the stored tree and the upper dir (cache/overlay-tree.ts). Throws
 * OverlayUnavailable, before `edit` runs, when the overlay cannot be mounted.
 */
export async function editOnOverlay(
  lower: string,
  entries: ManifestEntry[],
  dir: string,
  dest: string,
  edit: (root: string) => Promise<void>,
  settle: () => Promise<void>,
): Promise<DerivedTree> {
  const [upper, work, merged] = ['upper', 'work', 'merged'].map((n) => join(dir, n));
  for (const d of [upper, work, merged]) await mkdir(d, { recursive: true });
  // The merged root takes the upper dir's own mode and owner: make them the tree's, as a copy's are.
  const root = entries.find((e) => e.path === '.');
  if (root) {
    await lchown(upper, root.uid, root.gid);
    await chmod(upper, root.mode);
  }
  // redirect_dir off: a renamed lower directory is copied (EXDEV, which mv and dpkg handle), so
  // the upper dir holds whole directories, never a redirect to a lower one.
  const options = `lowerdir=${lower},upperdir=${upper},workdir=${work},redirect_dir=off,index=off,metacopy=off`;
  await run('mount', ['-t', 'overlay', 'overlay', '-o', options, merged]).catch((e: { stderr?: string }) => {
    throw new OverlayUnavailable(
      String(e.stderr ?? e)
        .trim()
        .split('\n')
        .join(' | '),
    );
  });
  try {
    await edit(merged);
  } finally {
    await settle();
    await unmount(merged);
  }
  return deriveTree(lower, entries, upper, dest);
}

/**
 * The overlay could not be mounted (a cache on a file system overlayfs cannot take as its upper
 * dir, a path with a comma or colon in it): nothing ran, and the step edits a copy instead.
 */
export class OverlayUnavailable extends Error {}

/** Unmounts; a mount still busy is detached and the step fails, since its upper dir may still change. */
async function unmount(path: string): Promise<void> {
  try {
    await run('umount', [path]);
  } catch (e) {
    await run('umount', ['-l', path]);
    const said = String((e as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`the overlay at ${path} was still in use after the step (${said}): detached`);
  }
}
