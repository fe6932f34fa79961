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
  type Stats,
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

const S_IFMT = 0o170000;
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
  const w = new Walk(opts);
  opts.statCache?.beginSnapshot();
  const rootLarge = w.visit('.', root, true);
  if (rootLarge) await w.hashLarge(rootLarge, root);
  let yieldAt = performance.now() + SLICE_MS;
  // Depth-first by an explicit stack: the manifest is sorted below, so walk order does not matter.
  while (w.dirs.length) {
    const [rel, abs] = w.dirs.pop()!;
    for (const d of readdirSync(abs, DIRENTS)) {
      const childAbs = `${abs}/${d.name}`;
      const large = w.visit(rel === '.' ? d.name : `${rel}/${d.name}`, childAbs, d.isFile());
      if (large) await w.hashLarge(large, childAbs);
      if (performance.now() >= yieldAt) {
        await new Promise((r) => setImmediate(r));
        yieldAt = performance.now() + SLICE_MS;
      }
    }
  }
  return digestEntries(w.entries);
}

const BIG = { bigint: true } as const;
const DIRENTS = { withFileTypes: true } as const;
const MAX_EXACT = Number.MAX_SAFE_INTEGER;

function isBig(st: Stats | BigIntStats): st is BigIntStats {
  return typeof st.mode === 'bigint';
}

/** One walk's state: the entries so far, the directories still to read, the read buffer. */
class Walk {
  readonly entries: ManifestEntry[] = [];
  readonly dirs: [rel: string, abs: string][] = [];
  private readonly buf = Buffer.allocUnsafe(READ_CHUNK);
  private readonly cache: StatCache | undefined;

  constructor(private readonly opts: DigestOptions) {
    this.cache = opts.statCache;
  }

  /**
   * lstat in number mode, which makes no BigInts (half a warm digest was BigInts and their GC),
   * unless the entry's ns times will be needed: a file the stat cache has no row for (it is
   * hashed and recorded) and mtimes in the manifest (seconds from ns, exactly as before).
   */
  private stat(rel: string, abs: string, file: boolean): Stats | BigIntStats {
    const c = this.cache;
    return this.opts.withMtime || (c !== undefined && file && !c.knows(rel)) ? lstatSync(abs, BIG) : lstatSync(abs);
  }

  /** Adds an entry; a large file not in the stat cache comes back unhashed, for the caller to stream. */
  visit(rel: string, abs: string, file: boolean): [ManifestEntry, BigIntStats | undefined] | undefined {
    const st = this.stat(rel, abs, file);
    const mode = Number(st.mode);
    const type = TYPES[mode & S_IFMT];
    if (!type) throw new Error(`${abs}: sockets and other special files cannot be part of an artifact`);
    const e: ManifestEntry = { path: rel, type, mode: mode & 0o7777, uid: Number(st.uid), gid: Number(st.gid) };
    if (this.opts.withMtime) e.mtime = Number((st as BigIntStats).mtimeMs / 1000n);
    this.entries.push(e);
    if (type === 'symlink') e.target = readlinkSync(abs);
    else if (type === 'char' || type === 'block') e.rdev = Number(st.rdev);
    else if (type === 'dir') this.dirs.push([rel, abs]);
    else if (type === 'file') {
      e.size = Number(st.size);
      const big = this.hashCached(e, abs, st);
      if (e.digest === undefined) return [e, big];
    }
    return undefined;
  }

  /** The file's digest from the stat cache, or read now if small; the BigInt stat its row records. */
  private hashCached(e: ManifestEntry, abs: string, st: Stats | BigIntStats): BigIntStats | undefined {
    const c = this.cache;
    if (c) {
      // Number-mode values past 2^53 are rounded: those files are looked up by their exact BigInt stat.
      if (!isBig(st) && (st.ino > MAX_EXACT || st.dev > MAX_EXACT || st.size > MAX_EXACT)) st = lstatSync(abs, BIG);
      e.digest = c.lookup(e.path, st);
      if (e.digest !== undefined) return undefined;
    }
    // A row keeps ns times: a file lstat'd in number mode (a row that no longer matched) is lstat'd again.
    const big = c && !isBig(st) ? lstatSync(abs, BIG) : undefined;
    if (e.size! > SMALL_FILE) return big ?? (st as BigIntStats);
    e.digest = hashFileSync(abs, this.buf);
    if (c) c.record(e.path, big ?? (st as BigIntStats), e.digest);
    return undefined;
  }

  // A large file is read as a stream, so one disk image in a tree cannot hold the event loop for seconds.
  async hashLarge([e, st]: [ManifestEntry, BigIntStats | undefined], abs: string): Promise<void> {
    e.digest = await hashFile(abs, e.size!);
    if (st) this.cache?.record(e.path, st, e.digest);
  }
}

/** The sorted manifest of these entries (sorted in place), its digest, and the totals of its files. */
export function digestEntries(entries: ManifestEntry[]): TreeDigest {
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const bytes = manifestBytes(entries);
  let size = 0;
  let files = 0;
  for (const e of entries)
    if (e.type === 'file') {
      size += e.size!;
      files++;
    }
  let text: string | undefined;
  // The text only for a caller that stores it: a source tree's digest needs the bytes' hash alone.
  return {
    digest: sha256(bytes),
    entries,
    get manifest() {
      return (text ??= bytes.toString('utf8'));
    },
    size,
    files,
  };
}

/** manifestBytes as text: what a tree's stored manifest holds. */
export function manifestJson(entries: ManifestEntry[]): string {
  return manifestBytes(entries).toString('utf8');
}

/**
 * `canonicalJson({ v: 1, entries })` as UTF-8, byte for byte (a unit test holds them equal),
 * written directly into one buffer: the generic walk sorted every entry's keys and copied it, and
 * joining 30k strings into one cost a warm digest as much again as writing their bytes does. Keys
 * in sorted order; an absent member is left out.
 */
export function manifestBytes(entries: ManifestEntry[]): Buffer {
  let b = Buffer.allocUnsafe(entries.length * 200 + 64);
  let o = b.write('{"entries":[', 0, 'latin1');
  for (let i = 0; i < entries.length; i++) {
    const line = manifestLine(entries[i], i > 0);
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (o + line.length * 3 + 16 > b.length) {
      const grown = Buffer.allocUnsafe(2 * b.length + line.length * 3);
      b.copy(grown, 0, 0, o);
      b = grown;
    }
    o += b.write(line, o, 'utf8');
  }
  o += b.write('],"v":1}', o, 'latin1');
  return b.subarray(0, o);
}

function manifestLine(e: ManifestEntry, comma: boolean): string {
  let s = comma ? ',{' : '{';
  if (e.digest !== undefined) s += `"digest":${str(e.digest)},`;
  s += `"gid":${num(e.gid)},"mode":${num(e.mode)},`;
  if (e.mtime !== undefined) s += `"mtime":${num(e.mtime)},`;
  s += `"path":${str(e.path)},`;
  if (e.rdev !== undefined) s += `"rdev":${num(e.rdev)},`;
  if (e.size !== undefined) s += `"size":${num(e.size)},`;
  if (e.target !== undefined) s += `"target":${str(e.target)},`;
  return `${s}"type":"${e.type}","uid":${num(e.uid)}}`;
}

/** Printable ASCII but `"` and `\\`: what JSON.stringify writes as it is, between quotes. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function str(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** JSON.stringify of a finite number is its String(); anything else cannot be in a manifest. */
function num(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`${n} cannot be part of a manifest`);
  return String(n);
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
