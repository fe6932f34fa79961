import { createHash } from 'node:crypto';
import { createReadStream, type BigIntStats } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson, sha256 } from '../core/canonical.js';
import type { StatCache } from './stat-cache.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo';

/** One entry of a tree manifest. Paths are relative, '/'-separated, the root is '.'. */
export interface ManifestEntry {
  path: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  digest?: string;
  target?: string;
  rdev?: number;
  mtime?: number;
}

export interface TreeDigest {
  digest: string;
  entries: ManifestEntry[];
  /** The canonical manifest bytes; their sha256 is `digest`. */
  manifest: string;
  size: number;
  files: number;
}

export interface DigestOptions {
  statCache?: StatCache;
  /** Include mtimes (seconds) in the manifest: only for plugins whose consumers care. */
  withMtime?: boolean;
}

const S_IFMT = 0o170000n;
const TYPES: Record<string, EntryType> = {
  [0o100000]: 'file',
  [0o040000]: 'dir',
  [0o120000]: 'symlink',
  [0o020000]: 'char',
  [0o060000]: 'block',
  [0o010000]: 'fifo',
};
const SMALL_FILE = 4 << 20;
const HASH_CONCURRENCY = 8;

export async function hashFile(path: string, size: number): Promise<string> {
  if (size <= SMALL_FILE) return sha256(await readFile(path));
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Walks a directory and names it by the sha256 of its canonical manifest: every entry's path,
 * type, mode, owner, content digest and link target. Mtimes are left out unless asked for, so
 * touching a file does not change a digest. With a stat cache, unchanged files are not re-read.
 */
export async function digestTree(root: string, opts: DigestOptions = {}): Promise<TreeDigest> {
  const entries: ManifestEntry[] = [];
  const pending: Promise<void>[] = [];
  let active = 0;
  const waiters: (() => void)[] = [];
  const slot = async () => {
    while (active >= HASH_CONCURRENCY) await new Promise<void>((r) => waiters.push(r));
    active++;
  };
  const release = () => {
    active--;
    waiters.shift()?.();
  };
  const cache = opts.statCache;
  cache?.beginSnapshot();

  const visit = async (rel: string, abs: string, st: BigIntStats) => {
    const type = TYPES[Number(st.mode & S_IFMT)];
    if (!type) throw new Error(`${abs}: sockets and other special files cannot be part of an artifact`);
    const e: ManifestEntry = { path: rel, type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
    if (opts.withMtime) e.mtime = Number(st.mtimeMs / 1000n);
    entries.push(e);
    if (type === 'symlink') e.target = await readlink(abs);
    else if (type === 'char' || type === 'block') e.rdev = Number(st.rdev);
    else if (type === 'file') {
      e.size = Number(st.size);
      const known = cache?.lookup(rel, st);
      if (known) e.digest = known;
      else {
        await slot();
        pending.push(
          hashFile(abs, e.size)
            .then((d) => {
              e.digest = d;
              cache?.record(rel, st, d);
            })
            .finally(release),
        );
      }
    } else if (type === 'dir') {
      const names = (await readdir(abs)).sort();
      for (const name of names) {
        const childAbs = join(abs, name);
        await visit(rel === '.' ? name : `${rel}/${name}`, childAbs, await lstat(childAbs, { bigint: true }));
      }
    }
  };
  await visit('.', root, await lstat(root, { bigint: true }));
  await Promise.all(pending);
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifest = canonicalJson({ v: 1, entries });
  let size = 0;
  let files = 0;
  for (const e of entries)
    if (e.type === 'file') {
      size += e.size!;
      files++;
    }
  return { digest: sha256(manifest), entries, manifest, size, files };
}

/** Linux dev_t to (major, minor), laid out as the kernel's new_encode_dev does. */
export function devMajorMinor(rdev: number): [number, number] {
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff & 0xfffff);
  return [major, minor];
}

export function parseManifest(text: string): ManifestEntry[] {
  return (JSON.parse(text) as { entries: ManifestEntry[] }).entries;
}
