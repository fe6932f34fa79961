import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { modeAsStored } from './read-only.js';
import { StatRows } from './stat-rows.js';
import { hashFile, type ManifestEntry } from './tree.js';

const SLICE_MS = 20;

/**
 * Checks that a stored tree is exactly as it was ingested: the same paths, types, modes, owners
 * and link targets, and every file the same size and mtime as its ingest-time stat row (a write
 * changes mtime). Not the inode or ctime: `cp -a` of a cache, a backup and its restore change
 * both, and publishing hard-links tree files into releases, which changes ctime. With `hash`,
 * every file's content is re-hashed against the manifest instead (what `--verify` asks for).
 * Returns the first difference, if any. The stat form is lstat only: cheap enough to run after
 * every step that read the tree and on every hit of a published one.
 */
export async function treeChanged(
  dir: string,
  entries: ManifestEntry[],
  rowsFile: string,
  o: { hash?: boolean } = {},
): Promise<string | undefined> {
  // Without the ingest-time rows the stat form cannot tell: every file is hashed instead.
  const rows = o.hash ? undefined : await StatRows.read(rowsFile);
  const want = new Map(entries.map((e) => [e.path, e]));
  const seen = new Set<string>();
  const toHash: ManifestEntry[] = [];
  const stack: [string, string][] = [['.', dir]];
  let yieldAt = performance.now() + SLICE_MS;
  try {
    while (stack.length) {
      const [rel, abs] = stack.pop()!;
      const st = lstatSync(abs, { bigint: true });
      const e = want.get(rel);
      if (!e) return `${rel} was added`;
      seen.add(rel);
      if (!modeAsStored(e, Number(st.mode & 0o7777n)) || Number(st.uid) !== e.uid || Number(st.gid) !== e.gid)
        return `${rel}: mode or owner changed`;
      if (e.type === 'symlink') {
        if (!st.isSymbolicLink() || readlinkSync(abs) !== e.target) return `${rel}: link changed`;
      } else if (e.type === 'file') {
        if (!st.isFile() || String(st.size) !== String(e.size)) return `${rel} was modified`;
        if (rows) {
          const r = rows.get(rel);
          if (!r || r.size !== st.size || r.mtimeNs !== st.mtimeNs) return `${rel} was modified`;
        } else toHash.push(e);
      } else if (e.type === 'dir') {
        if (!st.isDirectory()) return `${rel}: no longer a directory`;
        for (const name of readdirSync(abs)) stack.push([rel === '.' ? name : `${rel}/${name}`, join(abs, name)]);
      }
      if (performance.now() >= yieldAt) {
        await new Promise((r) => setImmediate(r));
        yieldAt = performance.now() + SLICE_MS;
      }
    }
    for (const p of want.keys()) if (!seen.has(p)) return `${p} was removed`;
    for (const e of toHash)
      if ((await hashFile(join(dir, e.path), e.size!)) !== e.digest) return `${e.path}: content changed`;
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
  return undefined;
}
