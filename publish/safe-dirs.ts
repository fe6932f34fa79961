import { lstat, mkdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ifMissing } from '../base/errno.js';
import { errors } from '../base/errors.js';

/**
 * Checks, one component at a time, that every directory from `root` down to `root/rel` is a
 * real directory (lstat: a symlink is refused, never followed) owned by this user or root, and
 * makes the missing ones when `create`. A planted symlink is reported, not removed: it is
 * someone's doing. The root itself may be a symlink: the user configured it. Without `create`,
 * says whether the whole path exists.
 */
export async function safeDir(root: string, rel: string, create = true): Promise<boolean> {
  if (create) await mkdir(root, { recursive: true });
  let path = root;
  for (const part of rel.split('/').filter((p) => p && p !== '.')) {
    path = join(path, part);
    let st = await lstat(path).catch(ifMissing(undefined));
    if (!st) {
      if (!create) return false;
      await mkdir(path).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
      st = await lstat(path);
    }
    if (st.isSymbolicLink()) throw errors.sanUnsafePath(path, `is a symlink (to ${await readlink(path)})`);
    if (!st.isDirectory()) throw errors.sanUnsafePath(path, 'is not a directory');
    const me = process.geteuid?.() ?? 0;
    if (st.uid !== me && st.uid !== 0)
      throw errors.sanUnsafePath(path, `is owned by uid ${st.uid}, not by this user or root`);
  }
  return true;
}
