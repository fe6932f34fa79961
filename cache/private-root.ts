import { chmod, stat } from 'node:fs/promises';

/**
 * The cache holds whole root file systems (shadow, keys a user's overlay brought) and disk images:
 * only its owner may enter it. A cache made by an older netboot, or by hand, with a wider mode is
 * tightened on first use. Everything below is then private whatever its own mode (0444 objects).
 */
export async function makeCacheRootPrivate(root: string): Promise<void> {
  const st = await stat(root);
  if (st.mode & 0o077) await chmod(root, 0o700);
}
