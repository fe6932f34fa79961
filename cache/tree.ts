import { createHash } from 'node:crypto';
import {
  type BigIntStats,
  closeSync,
  createReadStream,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { sha256 } from '../base/canonical.js';
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
/**
 * How long the walk runs synchronous syscalls before yielding to the event loop. A promise per
 * lstat, open, read and close cost more than the syscalls themselves (a Debian rootfs digested
 * at half the speed of `tar | sha256sum`); slices keep progress output and other in-process
 * steps moving.
 */
const SLICE_MS = 20;
const READ_CHUNK = 1 << 20;

export async function hashFile(path: string, size: number): Promise<string> {
  if (size <= SMALL_FILE) return sha256(await readFile(path));
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Reads to EOF (as readFile does, whatever the size at lstat time) through one reused buffer. */
function hashFileSync(path: string, buf: Buffer): string {
  const fd = openSync(path, 'r');
  try {
    const h = createHash('sha256');
    for (let n: number; (n = readSync(fd, buf, 0, buf.length, null)) > 0; )
      h.update(n === buf.length ? buf : buf.subarray(0, n));
    return h.digest('hex');
  } finally {
    closeSync(fd);
  }
}

/**
 * Walks a directory and names it by the sha256 of its canonical manifest: every entry's path,
 * type, mode, owner, content digest and link target. Mtimes are left out unless asked for, so
 * touching a file does not change a digest. With a stat cache, unchanged files are not re-read.
 */
export async function digestTree(root: string, opts: DigestOptions = {}): Promise<TreeDigest> {
  const entries: ManifestEntry[] = [];
  const dirs: [rel: string, abs: string][] = [];
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  const cache = opts.statCache;
  cache?.beginSnapshot();

  /** Adds an entry; a large file not in the stat cache comes back unhashed, for the caller to stream. */
  const visit = (rel: string, abs: string, st: BigIntStats): ManifestEntry | undefined => {
    const type = TYPES[Number(st.mode & S_IFMT)];
    if (!type) throw new Error(`${abs}: sockets and other special files cannot be part of an artifact`);
    const e: ManifestEntry = {
      path: rel,
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
    };
    if (opts.withMtime) e.mtime = Number(st.mtimeMs / 1000n);
    entries.push(e);
    if (type === 'symlink') e.target = readlinkSync(abs);
    else if (type === 'char' || type === 'block') e.rdev = Number(st.rdev);
    else if (type === 'file') {
      e.size = Number(st.size);
      const known = cache?.lookup(rel, st);
      if (known) e.digest = known;
      else if (e.size > SMALL_FILE) return e;
      else {
        e.digest = hashFileSync(abs, buf);
        cache?.record(rel, st, e.digest);
      }
    } else if (type === 'dir') dirs.push([rel, abs]);
    return undefined;
  };
  // A large file is read as a stream, so one disk image in a tree cannot hold the event loop for seconds.
  const hashLarge = async (e: ManifestEntry, abs: string, st: BigIntStats) => {
    e.digest = await hashFile(abs, e.size!);
    cache?.record(e.path, st, e.digest);
  };
  const rootSt = lstatSync(root, { bigint: true });
  const rootLarge = visit('.', root, rootSt);
  if (rootLarge) await hashLarge(rootLarge, root, rootSt);
  let yieldAt = performance.now() + SLICE_MS;
  // Depth-first by an explicit stack: the manifest is sorted below, so walk order does not matter.
  while (dirs.length) {
    const [rel, abs] = dirs.pop()!;
    for (const name of readdirSync(abs)) {
      const childAbs = `${abs}/${name}`;
      const st = lstatSync(childAbs, { bigint: true });
      const large = visit(rel === '.' ? name : `${rel}/${name}`, childAbs, st);
      if (large) await hashLarge(large, childAbs, st);
      if (performance.now() >= yieldAt) {
        await new Promise((r) => setImmediate(r));
        yieldAt = performance.now() + SLICE_MS;
      }
    }
  }
  return summarize(entries);
}

/** The sorted manifest, its digest, and the totals of its files. */
function summarize(entries: ManifestEntry[]): TreeDigest {
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifest = manifestJson(entries);
  let size = 0;
  let files = 0;
  for (const e of entries)
    if (e.type === 'file') {
      size += e.size!;
      files++;
    }
  return { digest: sha256(manifest), entries, manifest, size, files };
}

/**
 * `canonicalJson({ v: 1, entries })`, byte for byte (a unit test holds them equal), written
 * directly: the generic walk sorted every entry's keys and copied it, and cost a warm digest more
 * than its lstat()s did. Keys in sorted order; an absent member is left out.
 */
export function manifestJson(entries: ManifestEntry[]): string {
  const parts: string[] = [];
  for (const e of entries) {
    let s = '{';
    if (e.digest !== undefined) s += `"digest":${JSON.stringify(e.digest)},`;
    s += `"gid":${num(e.gid)},"mode":${num(e.mode)},`;
    if (e.mtime !== undefined) s += `"mtime":${num(e.mtime)},`;
    s += `"path":${JSON.stringify(e.path)},`;
    if (e.rdev !== undefined) s += `"rdev":${num(e.rdev)},`;
    if (e.size !== undefined) s += `"size":${num(e.size)},`;
    if (e.target !== undefined) s += `"target":${JSON.stringify(e.target)},`;
    s += `"type":${JSON.stringify(e.type)},"uid":${num(e.uid)}}`;
    parts.push(s);
  }
  return `{"entries":[${parts.join(',')}],"v":1}`;
}

function num(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`${n} cannot be part of a manifest`);
  return JSON.stringify(n);
}

/** Linux dev_t to (major, minor), laid out as the kernel's new_encode_dev does. */
export function devMajorMinor(rdev: number): [number, number] {
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff & 0xfffff);
  return [major, minor];
}

/** A stored manifest's entries; throws on anything that is not one (a truncated object). */
export function parseManifest(text: string): ManifestEntry[] {
  const m = JSON.parse(text) as { v?: number; entries?: ManifestEntry[] };
  if (m?.v !== 1 || !Array.isArray(m.entries)) throw new Error('not a tree manifest');
  return m.entries;
}
