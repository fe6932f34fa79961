import type { BigIntStats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isMissing } from '../base/errno.js';
import { writeFileAtomic } from './atomic.js';

type Row = [dev: string, ino: string, size: string, mtimeNs: string, ctimeNs: string, digest: string];

interface Stored {
  v: 1;
  /** Wall clock (ns) when the walk that wrote this cache began. */
  snapshotNs: string;
  rows: Record<string, Row>;
}

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
  private old: Record<string, Row> = {};
  private oldSnapshotNs = 0n;
  private next: Record<string, Row> = {};
  private snapshotNs = 0n;
  /** The file was read: `old` is what it holds, not an empty start. */
  private loaded = false;
  hits = 0;
  misses = 0;

  constructor(private readonly file: string) {}

  static async open(file: string): Promise<StatCache> {
    const c = new StatCache(file);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if (isMissing(e)) return c; // no rows yet: every file is hashed
      throw e;
    }
    try {
      const s = JSON.parse(text) as Stored;
      if (s.v === 1) {
        c.old = s.rows;
        c.oldSnapshotNs = BigInt(s.snapshotNs);
        c.loaded = true;
      }
    } catch {
      // Rows that do not parse are not trusted: start empty, which only costs re-hashing.
    }
    return c;
  }

  beginSnapshot(): void {
    this.snapshotNs = BigInt(Date.now()) * 1_000_000n;
    this.next = {};
  }

  lookup(path: string, st: BigIntStats): string | undefined {
    const row = this.old[path];
    const racyFrom = this.oldSnapshotNs - RACY_MARGIN_NS;
    if (
      row &&
      row[0] === String(st.dev) &&
      row[1] === String(st.ino) &&
      row[2] === String(st.size) &&
      row[3] === String(st.mtimeNs) &&
      row[4] === String(st.ctimeNs) &&
      st.mtimeNs < racyFrom
    ) {
      this.next[path] = row;
      this.hits++;
      return row[5];
    }
    this.misses++;
    return undefined;
  }

  record(path: string, st: BigIntStats, digest: string): void {
    this.next[path] = [String(st.dev), String(st.ino), String(st.size), String(st.mtimeNs), String(st.ctimeNs), digest];
  }

  async save(): Promise<void> {
    // Every stored row was confirmed and none added: the file already says all this, and its older
    // snapshot is as good (no row was racy against it). Skipping the write and its fsync is a
    // tenth of a warm digest of a rootfs.
    if (this.loaded && this.misses === 0 && this.hits === Object.keys(this.old).length) return;
    await this.saveAs(this.file);
  }

  async saveAs(file: string): Promise<void> {
    const s: Stored = { v: 1, snapshotNs: String(this.snapshotNs), rows: this.next };
    await writeFileAtomic(file, JSON.stringify(s));
  }
}
