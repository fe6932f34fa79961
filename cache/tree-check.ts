import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManifestEntry } from './tree.js';

type Row = [dev: string, ino: string, size: string, mtimeNs: string, ctimeNs: string, digest: string];

/**
 * Checks, with lstat only, that a stored tree is exactly as it was ingested: the same paths,
 * types, modes, owners and link targets, and every file the same inode with the same size and
 * mtime (a write changes mtime; a rename-over changes the inode). Not ctime: publishing
 * hardlinks tree files into releases, which changes it. Returns the first difference, if any.
 * Cheap enough to run after every step that read the tree, which is how a plugin that wrote
 * into its input is caught.
 */
export async function treeChanged(dir: string, entries: ManifestEntry[], rowsFile: string): Promise<string | undefined> {
  let rows: Record<string, Row>;
  try {
    rows = (JSON.parse(await readFile(rowsFile, 'utf8')) as { rows: Record<string, Row> }).rows;
  } catch {
    return undefined; // no snapshot recorded for this tree: nothing to compare with
  }
  const want = new Map(entries.map((e) => [e.path, e]));
  const seen = new Set<string>();
  const walk = async (rel: string, abs: string): Promise<string | undefined> => {
    const st = await lstat(abs, { bigint: true });
    const e = want.get(rel);
    if (!e) return `${rel} was added`;
    seen.add(rel);
    if (Number(st.mode & 0o7777n) !== e.mode || Number(st.uid) !== e.uid || Number(st.gid) !== e.gid) return `${rel}: mode or owner changed`;
    if (e.type === 'symlink') return st.isSymbolicLink() && (await readlink(abs)) === e.target ? undefined : `${rel}: link changed`;
    if (e.type === 'file') {
      const r = rows[rel];
      if (!st.isFile() || !r || r[1] !== String(st.ino) || r[2] !== String(st.size) || r[3] !== String(st.mtimeNs))
        return `${rel} was modified`;
      return undefined;
    }
    if (e.type === 'dir') {
      if (!st.isDirectory()) return `${rel}: no longer a directory`;
      for (const name of await readdir(abs)) {
        const diff = await walk(rel === '.' ? name : `${rel}/${name}`, join(abs, name));
        if (diff) return diff;
      }
    }
    return undefined;
  };
  const diff = await walk('.', dir).catch((err: Error) => `unreadable: ${err.message}`);
  if (diff) return diff;
  for (const p of want.keys()) if (!seen.has(p)) return `${p} was removed`;
  return undefined;
}
