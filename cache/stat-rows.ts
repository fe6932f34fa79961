import { readFile } from 'node:fs/promises';
import { isMissing } from '../base/errno.js';

/** What a stat row remembers of a file when its content was hashed. */
export interface StatRow {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** sha256 of the content, hex. */
  digest: string;
}

// Version 2 is binary: a JSON file of 30k rows took longer to parse than the lstat()s of a warm
// digest, and turned every number into a string to compare. Version 1 (JSON) is still read, so a
// cache written before keeps its rows; the file names stay what they were (`.json`), because a
// tree's rows are also its commit record and a rename would make every stored tree look unfinished.
const MAGIC = Buffer.from('NBSTAT2\n');
const FIXED = 5 * 8 + 32;
const HEADER = MAGIC.length + 8 + 4;

/** The rows of one stat cache file, read-only, decoded on lookup. */
export class StatRows {
  constructor(
    private readonly buf: Buffer,
    /** path -> offset of its fixed fields in buf (v2), or the row itself (v1). */
    private readonly at: Map<string, number | StatRow>,
    readonly snapshotNs: bigint,
  ) {}

  static empty(): StatRows {
    return new StatRows(Buffer.alloc(0), new Map(), 0n);
  }

  /** The rows, or undefined when the file is missing or is not a stat cache (a torn or foreign file). */
  static async read(file: string): Promise<StatRows | undefined> {
    let buf: Buffer;
    try {
      buf = await readFile(file);
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
    return StatRows.decode(buf);
  }

  static decode(buf: Buffer): StatRows | undefined {
    if (buf.length >= HEADER && buf.subarray(0, MAGIC.length).equals(MAGIC)) return decodeV2(buf);
    return decodeV1(buf);
  }

  get size(): number {
    return this.at.size;
  }

  /** A row for path exists; remembered for the lookup that follows (one Map search per file, not two). */
  has(path: string): boolean {
    this.lastPath = path;
    this.lastAt = this.at.get(path);
    return this.lastAt !== undefined;
  }

  private lastPath: string | undefined;
  private lastAt: number | StatRow | undefined;

  private find(path: string): number | StatRow | undefined {
    return path === this.lastPath ? this.lastAt : this.at.get(path);
  }

  get(path: string): StatRow | undefined {
    const a = this.at.get(path);
    if (a === undefined || typeof a !== 'number') return a;
    const b = this.buf;
    return {
      dev: b.readBigUInt64LE(a),
      ino: b.readBigUInt64LE(a + 8),
      size: b.readBigUInt64LE(a + 16),
      mtimeNs: b.readBigUInt64LE(a + 24),
      ctimeNs: b.readBigUInt64LE(a + 32),
      digest: b.toString('hex', a + 40, a + 72),
    };
  }

  /** The row as stored, for another file of rows to copy (see encodeStatRows). */
  ref(path: string): RowRef | undefined {
    const a = this.at.get(path);
    return a === undefined || typeof a !== 'number' ? a : { buf: this.buf, at: a };
  }

  /** The five stat fields equal these, without decoding the row: its digest. */
  matches(path: string, dev: bigint, ino: bigint, size: bigint, mtimeNs: bigint, ctimeNs: bigint): string | undefined {
    const r = this.matching(path, dev, ino, size, mtimeNs, ctimeNs);
    return r === undefined ? undefined : this.digestOf(r);
  }

  /** The row itself when it matches, as stored: a rewrite copies it without decoding (see encodeStatRows). */
  matching(path: string, dev: bigint, ino: bigint, size: bigint, mtimeNs: bigint, ctimeNs: bigint): RowRef | undefined {
    const a = this.at.get(path);
    if (a === undefined) return undefined;
    if (typeof a !== 'number')
      return a.dev === dev && a.ino === ino && a.size === size && a.mtimeNs === mtimeNs && a.ctimeNs === ctimeNs
        ? a
        : undefined;
    const b = this.buf;
    if (
      b.readBigUInt64LE(a + 16) !== size ||
      b.readBigUInt64LE(a + 24) !== mtimeNs ||
      b.readBigUInt64LE(a + 32) !== ctimeNs ||
      b.readBigUInt64LE(a + 8) !== ino ||
      b.readBigUInt64LE(a) !== dev
    )
      return undefined;
    return { buf: b, at: a };
  }

  /**
   * `matching` for a number-mode stat (no BigInt is made): dev, ino and size compared exactly (the
   * caller passes only values up to 2^53), the stored ns times turned into the double node computes
   * for mtimeMs and ctimeMs (see msAt) and compared with ===. Equal doubles mean times within one
   * double step (2^-12 ms, 244 ns, until 2039): see StatCache.lookup for why that still sees every change.
   */
  matchingMs(
    path: string,
    dev: number,
    ino: number,
    size: number,
    mtimeMs: number,
    ctimeMs: number,
  ): RowRef | undefined {
    const a = this.find(path);
    if (a === undefined) return undefined;
    if (typeof a !== 'number')
      return Number(a.size) === size &&
        msOfNs(a.mtimeNs) === mtimeMs &&
        msOfNs(a.ctimeNs) === ctimeMs &&
        Number(a.ino) === ino &&
        Number(a.dev) === dev
        ? a
        : undefined;
    const b = this.buf;
    if (
      u64At(b, a + 16) !== size ||
      msAt(b, a + 24) !== mtimeMs ||
      msAt(b, a + 32) !== ctimeMs ||
      u64At(b, a + 8) !== ino ||
      u64At(b, a) !== dev
    )
      return undefined;
    return { buf: b, at: a };
  }

  digestOf(r: RowRef): string {
    return 'buf' in r ? r.buf.toString('hex', r.at + 40, r.at + 72) : r.digest;
  }
}

/** A stored u64 as a number: exact below 2^53, and at or above it never equal to one below. */
function u64At(b: Buffer, o: number): number {
  return b.readUInt32LE(o + 4) * 0x1_0000_0000 + b.readUInt32LE(o);
}

/**
 * The stored ns time at b[o] as node's number-mode stat gives it: `sec * 1000 + nsec / 1e6`, the
 * expression of msFromTimeSpec in node's lib/internal/fs/utils.js, from the same exact sec and nsec
 * (a unit test holds the two equal on real files). sec and nsec come from the u64 by long division
 * in 16-bit digits, so no step leaves the doubles' exact integers and no BigInt is made.
 */
export function msAt(b: Buffer, o: number): number {
  const lo = b.readUInt32LE(o);
  const hi = b.readUInt32LE(o + 4);
  // ns = (hi * 2^16 + lo's high half) * 2^16 + lo's low half; each remainder times 2^16 stays under 2^53.
  let q = Math.floor(hi / 1e9);
  let r = hi - q * 1e9;
  r = r * 65536 + (lo >>> 16);
  let d = Math.floor(r / 1e9);
  r -= d * 1e9;
  q = q * 65536 + d;
  r = r * 65536 + (lo & 0xffff);
  d = Math.floor(r / 1e9);
  r -= d * 1e9;
  q = q * 65536 + d;
  return q * 1000 + r / 1e6;
}

/** msAt for a decoded (v1) row's time. */
export function msOfNs(ns: bigint): number {
  return Number(ns / 1_000_000_000n) * 1000 + Number(ns % 1_000_000_000n) / 1e6;
}

/** A row: decoded, or where a v2 file holds it. */
export type RowRef = StatRow | { buf: Buffer; at: number };

/** Rows as the v2 file holds them: the snapshot time, then per row its path and fixed fields. */
export function encodeStatRows(snapshotNs: bigint, rows: Map<string, RowRef>): Buffer {
  let total = HEADER;
  const paths: Buffer[] = [];
  for (const path of rows.keys()) {
    const p = Buffer.from(path, 'utf8');
    paths.push(p);
    total += 4 + p.length + FIXED;
  }
  const b = Buffer.allocUnsafe(total);
  MAGIC.copy(b, 0);
  let o = MAGIC.length;
  o = b.writeBigUInt64LE(snapshotNs, o);
  o = b.writeUInt32LE(rows.size, o);
  let i = 0;
  for (const r of rows.values()) {
    const p = paths[i++];
    o = b.writeUInt32LE(p.length, o);
    o += p.copy(b, o);
    if ('buf' in r) {
      o += r.buf.copy(b, o, r.at, r.at + FIXED);
      continue;
    }
    o = b.writeBigUInt64LE(r.dev, o);
    o = b.writeBigUInt64LE(r.ino, o);
    o = b.writeBigUInt64LE(r.size, o);
    o = b.writeBigUInt64LE(r.mtimeNs, o);
    o = b.writeBigUInt64LE(r.ctimeNs, o);
    o += b.write(r.digest, o, 32, 'hex');
  }
  return b;
}

function decodeV2(buf: Buffer): StatRows | undefined {
  const snapshotNs = buf.readBigUInt64LE(MAGIC.length);
  const count = buf.readUInt32LE(MAGIC.length + 8);
  const at = new Map<string, number>();
  let o = HEADER;
  for (let i = 0; i < count; i++) {
    if (o + 4 > buf.length) return undefined;
    const len = buf.readUInt32LE(o);
    const fixed = o + 4 + len;
    if (fixed + FIXED > buf.length) return undefined;
    at.set(buf.toString('utf8', o + 4, fixed), fixed);
    o = fixed + FIXED;
  }
  return o === buf.length ? new StatRows(buf, at, snapshotNs) : undefined;
}

type V1Row = [dev: string, ino: string, size: string, mtimeNs: string, ctimeNs: string, digest: string];

function decodeV1(buf: Buffer): StatRows | undefined {
  try {
    const s = JSON.parse(buf.toString('utf8')) as { v?: number; snapshotNs?: string; rows?: Record<string, V1Row> };
    if (s.v !== 1 || !s.rows || typeof s.rows !== 'object') return undefined;
    const at = new Map<string, StatRow>();
    for (const [path, r] of Object.entries(s.rows))
      at.set(path, {
        dev: BigInt(r[0]),
        ino: BigInt(r[1]),
        size: BigInt(r[2]),
        mtimeNs: BigInt(r[3]),
        ctimeNs: BigInt(r[4]),
        digest: r[5],
      });
    return new StatRows(buf, at, BigInt(s.snapshotNs ?? '0'));
  } catch {
    return undefined;
  }
}
