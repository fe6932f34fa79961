import { lstat, readFile } from 'node:fs/promises';
import { ifMissing, isErrno } from '../base/errno.js';
import type { Artifact } from './artifact.js';
import { OBJECT_MTIME, pinObject } from './read-only.js';
import type { Cache } from './store.js';
import { hashFile, parseManifest } from './tree.js';
import { treeChanged } from './tree-check.js';

export type CheckDepth = 'stat' | 'hash';

/**
 * Whether an object is still what its name says. By stat: read-only, and the pinned mtime
 * (any write in place moves it). An object with another mtime (stored before objects were
 * pinned, or left by a crash before its pin) is re-hashed once and pinned if it is good (unless
 * `pin` is false: plan mode writes nothing).
 */
export async function objectDamage(
  cache: Cache,
  digest: string,
  depth: CheckDepth,
  size?: number,
  pin = true,
): Promise<string | undefined> {
  const path = cache.objectPath(digest);
  const st = await lstat(path, { bigint: true }).catch(ifMissing(undefined));
  if (!st) return 'it is missing';
  if (!st.isFile()) return 'it is not a regular file';
  if (size !== undefined && Number(st.size) !== size) return `its size changed (${size} -> ${st.size} bytes)`;
  if (Number(st.mode & 0o222n)) return 'it was made writable';
  if (depth === 'stat' && st.mtimeNs === BigInt(OBJECT_MTIME) * 1_000_000_000n) return undefined;
  if ((await hashFile(path, Number(st.size))) !== digest) return 'its content changed';
  // Pinning is only a saving for the next check: a cache we may read but not write stays unpinned.
  if (pin)
    await pinObject(path).catch((e: unknown) => {
      if (!isErrno(e, 'EPERM', 'EACCES', 'EROFS')) throw e;
    });
  return undefined;
}

/**
 * What is wrong with a stored artifact, if anything. A file: its object. A tree: its manifest
 * object, and with `deep`, every entry against the manifest (by stat against the ingest-time
 * rows, or by hash).
 */
export async function artifactDamage(
  cache: Cache,
  a: Artifact,
  depth: CheckDepth,
  deep: boolean,
  pin = true,
): Promise<string | undefined> {
  if (a.kind === 'file') return objectDamage(cache, a.digest, depth, a.size, pin);
  const m = await objectDamage(cache, a.digest, depth, undefined, pin);
  if (m) return `its manifest: ${m}`;
  if (!deep) return undefined;
  const text = await readFile(cache.objectPath(a.digest), 'utf8').catch(ifMissing(undefined));
  if (text === undefined) return 'its manifest is missing';
  let entries: ReturnType<typeof parseManifest>;
  try {
    entries = parseManifest(text);
  } catch {
    return 'its manifest does not parse';
  }
  return treeChanged(cache.treePath(a.digest), entries, cache.treeStatPath(a.digest), { hash: depth === 'hash' });
}

/** Moves a damaged artifact to quarantine/ (a tree with its manifest), so it is never served again. */
export async function quarantineArtifact(cache: Cache, a: Artifact): Promise<void> {
  if (a.kind === 'tree') await cache.quarantineTree(a.digest);
  await cache.quarantineObject(a.digest);
}
