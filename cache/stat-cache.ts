import type { BigIntStats } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { encodeStatRows, type RowRef, StatRows } from './stat-rows.js';

// Kernel file timestamps come from a coarse clock that can lag the wall clock by a tick; a
// margin keeps a file written just after the snapshot began from looking older than it.
const RACY_MARGIN_NS = 1_000_000_000n;

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
      c.loaded = true;
    }
    return c;
  }

  beginSnapshot(): void {
    this.snapshotNs = BigInt(Date.now()) * 1_000_000n;
    this.next = new Map();
  }

  lookup(path: string, st: BigIntStats): string | undefined {
    const row =
      st.mtimeNs < this.old.snapshotNs - RACY_MARGIN_NS
        ? this.old.matching(path, st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs)
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
