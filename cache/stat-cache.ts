import type { BigIntStats, Stats } from 'node:fs';
import { RACY_MARGIN_NS } from '../base/file-signature.js';
import { writeFileAtomic } from './atomic.js';
import { encodeStatRows, type RowRef, StatRows } from './stat-rows.js';

// The racy margin keeps a file written just after the snapshot began from looking older than it.
const RACY_MARGIN_MS = Number(RACY_MARGIN_NS / 1_000_000n);

function isBig(st: Stats | BigIntStats): st is BigIntStats {
  return typeof st.size === 'bigint';
}

/**
 * Remembers (dev, inode, size, mtime_ns, ctime_ns) -> content digest for one directory, so a
 * re-walk only re-reads what changed. Git's racy-timestamp rule applies: an entry whose mtime is
 * not clearly older than the walk that recorded it is hashed again (it may have changed within
 * the same timestamp tick). ctime must match exactly, which catches content restored with an
 * old mtime (tar -x, touch -r).
 */
export class StatCache {
  private old = StatRows.empty();
  private next = new Map<string, RowRef>();
  private snapshotNs = 0n;
  /** The read rows' snapshot in ms, for number-mode stats. */
  private oldSnapshotMs = 0;
  /** The file was read: `old` is what it holds, not an empty start. */
  private loaded = false;
  hits = 0;
  misses = 0;

  constructor(private readonly file: string) {}

  static async open(file: string): Promise<StatCache> {
    const c = new StatCache(file);
    // Rows that are missing or do not parse are not trusted: start empty, which only costs re-hashing.
    const rows = await StatRows.read(file);
    if (rows) {
      c.old = rows;
      c.oldSnapshotMs = Number(rows.snapshotNs / 1_000_000n);
      c.loaded = true;
    }
    return c;
  }

  beginSnapshot(): void {
    this.snapshotNs = BigInt(Date.now()) * 1_000_000n;
    this.next = new Map();
  }

  /** A row for this path was read: a walk lstats such a file without BigInts (see lookup). */
  knows(path: string): boolean {
    return this.old.has(path);
  }

  /**
   * The stored digest when the row matches this stat. A number-mode stat (what a warm walk takes,
   * to make no BigInts) has its times as doubles, which tell apart ns times at least 244 ns apart
   * (2^-12 ms, until 2039). That still sees every change: a write moves mtime and ctime, and one
   * that puts an old mtime back (touch -r, tar -x) still moves ctime, which only the kernel sets,
   * to the time of the change. A change the recorded digest did not read came after the file was
   * read, a microsecond or more after the lstat that gave the row its ctime: more than one double
   * step later. The unit tests change each field of a real file and see it hashed again.
   */
  lookup(path: string, st: Stats | BigIntStats): string | undefined {
    const row = isBig(st)
      ? st.mtimeNs < this.old.snapshotNs - RACY_MARGIN_NS
        ? this.old.matching(path, st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs)
        : undefined
      : st.mtimeMs < this.oldSnapshotMs - RACY_MARGIN_MS
        ? this.old.matchingMs(path, st.dev, st.ino, st.size, st.mtimeMs, st.ctimeMs)
        : undefined;
    if (row === undefined) {
      this.misses++;
      return undefined;
    }
    // The row as read: no copy of its fields until (and unless) the file is written again.
    this.next.set(path, row);
    this.hits++;
    return this.old.digestOf(row);
  }

  /** Takes `path`'s row from another tree's rows (a hard link to the same file): false if they have none. */
  carry(path: string, from: StatRows): boolean {
    const row = from.ref(path);
    if (row !== undefined) this.next.set(path, row);
    return row !== undefined;
  }

  record(path: string, st: BigIntStats, digest: string): void {
    this.next.set(path, { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, digest });
  }

  async save(): Promise<void> {
    // Every stored row was confirmed and none added: the file already says all this, and its older
    // snapshot is as good (no row was racy against it). Skipping the write and its fsync is a
    // tenth of a warm digest of a rootfs.
    if (this.loaded && this.misses === 0 && this.hits === this.old.size) return;
    await this.saveAs(this.file);
  }

  async saveAs(file: string): Promise<void> {
    await writeFileAtomic(file, encodeStatRows(this.snapshotNs, this.next));
  }
}
