import { type BigIntStats, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ifMissing } from '../base/errno.js';
import type { CheckDepth } from '../cache/artifact-check.js';
import { hashFile, type ManifestEntry } from '../cache/tree.js';
import { MANIFEST_NAME, type ReleaseManifest } from './release.js';

export interface Damage {
  path: string;
  problem: string;
}

const SLICE_MS = 20;

/** A file's stat as a release manifest records it: what any write in place changes. */
export const statRow = (st: { size: bigint; mtimeNs: bigint }) => `${st.size}:${st.mtimeNs}`;

/**
 * What in a staged release differs from its manifest: every entry's type, mode, owner and link
 * target, and each file's size and mtime as recorded when it was staged (`stat`), or its content
 * (`hash`); and anything added. A writable item is its symlink only: what the host writes to its
 * disk is its own. A release staged before rows were recorded is checked without mtimes.
 */
export async function checkRelease(dir: string, m: ReleaseManifest, depth: CheckDepth): Promise<Damage[]> {
  const out: Damage[] = [];
  const want = new Map(m.entries.map((e) => [e.path, e]));
  // Parents the stage made for an item at a nested path (a file at pxelinux.cfg/x): not entries.
  const implied = new Set<string>(['.']);
  for (const p of want.keys())
    for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) implied.add(p.slice(0, i));
  const seen = new Set<string>();
  const toHash: ManifestEntry[] = [];
  const stack = ['.'];
  let yieldAt = performance.now() + SLICE_MS;
  while (stack.length) {
    const rel = stack.pop()!;
    const abs = rel === '.' ? dir : join(dir, rel);
    const e = want.get(rel);
    const st = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
    if (!e && !(implied.has(rel) && st?.isDirectory())) {
      out.push({ path: rel, problem: 'it is not in the release manifest' });
      continue;
    }
    if (e) {
      seen.add(rel);
      const problem = entryProblem(e, st, abs, depth === 'stat' ? m.rows?.[rel] : undefined);
      if (problem) {
        out.push({ path: rel, problem });
        continue;
      }
      if (e.type === 'file' && depth === 'hash') toHash.push(e);
    }
    if (st?.isDirectory())
      for (const name of readdirSync(abs))
        if (rel !== '.' || name !== MANIFEST_NAME) stack.push(rel === '.' ? name : `${rel}/${name}`);
    if (performance.now() >= yieldAt) {
      await new Promise((r) => setImmediate(r));
      yieldAt = performance.now() + SLICE_MS;
    }
  }
  for (const p of want.keys()) if (!seen.has(p)) out.push({ path: p, problem: 'it is missing' });
  for (const e of toHash)
    if ((await hashFile(join(dir, e.path), e.size!).catch(ifMissing(''))) !== e.digest)
      out.push({ path: e.path, problem: 'its content changed' });
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

function entryProblem(e: ManifestEntry, st: BigIntStats | undefined, abs: string, row?: string): string | undefined {
  if (!st) return 'it is missing';
  if (e.type === 'symlink')
    return st.isSymbolicLink() && readlinkSync(abs) === e.target ? undefined : 'its link target changed';
  if (Number(st.mode & 0o7777n) !== e.mode || Number(st.uid) !== e.uid || Number(st.gid) !== e.gid)
    return 'its mode or owner changed';
  if (e.type === 'dir') return st.isDirectory() ? undefined : 'it is no longer a directory';
  if (e.type !== 'file') return undefined;
  if (!st.isFile() || Number(st.size) !== e.size) return 'its size changed';
  if (row !== undefined && row !== statRow(st)) return 'it was modified (its mtime changed)';
  return undefined;
}
