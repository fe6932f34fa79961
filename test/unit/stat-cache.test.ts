import { lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StatCache } from '../../cache/stat-cache.js';
import { encodeStatRows, msAt, msOfNs, type StatRow } from '../../cache/stat-rows.js';
import { digestTree } from '../../cache/tree.js';

const dir = mkdtempSync(join(tmpdir(), 'netboot-statcache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The u64 as a v2 row stores it, read back by msAt. */
const msOfStored = (ns: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(ns);
  return msAt(b, 0);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('number-mode stat times', () => {
  it("are what node's number-mode lstat gives, from the stored ns, on real files", () => {
    const f = join(dir, 'times');
    writeFileSync(f, 'x');
    // Fractions of a second that round near a whole ms, and times from 1970 to past 2038.
    for (const s of [1, 1_700_000_000.999_999, 1_700_000_000.000_001, 1_234_567_890.123_456, 4_102_444_800.5]) {
      utimesSync(f, s, s);
      const big = lstatSync(f, { bigint: true });
      const num = lstatSync(f);
      expect(msOfStored(big.mtimeNs)).toBe(num.mtimeMs);
      expect(msOfStored(big.ctimeNs)).toBe(num.ctimeMs);
      expect(msOfNs(big.mtimeNs)).toBe(num.mtimeMs);
    }
  });

  it('are computed without BigInts exactly as from the BigInt sec and nsec, for any u64', () => {
    const edges = [0n, 1n, 999_999_999n, 1_000_000_000n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 64n - 1n];
    let x = 0x9e3779b97f4a7c15n;
    for (let i = 0; i < 2000; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
      edges.push(x >> BigInt(i % 12));
    }
    for (const ns of edges) expect(msOfStored(ns)).toBe(msOfNs(ns));
  });
});

describe('a stat cache looked up with number-mode stats', () => {
  const root = join(dir, 'tree');
  const file = join(dir, 'rows.json');
  const old = new Date(Date.now() - 60_000);
  const names = ['size', 'mtime', 'ctime', 'inode'];

  it('hits every unchanged file, and re-hashes one whose size, mtime, ctime or inode changed', async () => {
    mkdirSync(root, { recursive: true });
    for (const n of names) {
      writeFileSync(join(root, n), `${n} one\n`);
      utimesSync(join(root, n), old, old);
    }
    let cache = await StatCache.open(file);
    await digestTree(root, { statCache: cache });
    await cache.save();
    cache = await StatCache.open(file);
    expect(cache.lookup('size', lstatSync(join(root, 'size')))).toBeDefined();
    cache = await StatCache.open(file);
    await digestTree(root, { statCache: cache });
    expect([cache.hits, cache.misses]).toEqual([names.length, 0]);
    // ctime moves by more than nothing, even on a coarse clock.
    await sleep(20);

    const p = (n: string) => join(root, n);
    const before = Object.fromEntries(names.map((n) => [n, lstatSync(p(n), { bigint: true })]));
    writeFileSync(p('size'), 'size is longer\n');
    utimesSync(p('size'), old, old);
    utimesSync(p('mtime'), new Date(old.getTime() - 1000), new Date(old.getTime() - 1000));
    // Same size, the old mtime put back (tar -x, touch -r): only ctime tells.
    writeFileSync(p('ctime'), 'ctime two\n');
    utimesSync(p('ctime'), old, old);
    // Same size and mtime, a new inode (an editor's save by rename).
    writeFileSync(join(dir, 'new'), 'inode two\n');
    utimesSync(join(dir, 'new'), old, old);
    renameSync(join(dir, 'new'), p('inode'));
    const after = Object.fromEntries(names.map((n) => [n, lstatSync(p(n), { bigint: true })]));
    expect(after.size.size).not.toBe(before.size.size);
    expect(after.mtime.mtimeNs).not.toBe(before.mtime.mtimeNs);
    expect([after.ctime.size, after.ctime.mtimeNs]).toEqual([before.ctime.size, before.ctime.mtimeNs]);
    expect(after.ctime.ctimeNs).not.toBe(before.ctime.ctimeNs);
    expect([after.inode.size, after.inode.mtimeNs]).toEqual([before.inode.size, before.inode.mtimeNs]);
    expect(after.inode.ino).not.toBe(before.inode.ino);

    for (const n of names) expect(cache.lookup(n, lstatSync(p(n))), n).toBeUndefined();
    cache = await StatCache.open(file);
    const warm = await digestTree(root, { statCache: cache });
    expect([cache.hits, cache.misses]).toEqual([0, names.length]);
    expect(warm.digest).toBe((await digestTree(root)).digest);
  });

  it('matches rows of the BigInt-era v1 format too', async () => {
    const f = join(root, 'size');
    const st = lstatSync(f, { bigint: true });
    const row: StatRow = {
      dev: st.dev,
      ino: st.ino,
      size: st.size,
      mtimeNs: st.mtimeNs,
      ctimeNs: st.ctimeNs,
      digest: 'a'.repeat(64),
    };
    const v1 = join(dir, 'v1.json');
    const r = (x: bigint) => String(x);
    writeFileSync(
      v1,
      JSON.stringify({
        v: 1,
        snapshotNs: r(BigInt(Date.now()) * 1_000_000n),
        rows: { size: [r(row.dev), r(row.ino), r(row.size), r(row.mtimeNs), r(row.ctimeNs), row.digest] },
      }),
    );
    expect((await StatCache.open(v1)).lookup('size', lstatSync(f))).toBe(row.digest);
    writeFileSync(join(dir, 'v2.json'), encodeStatRows(BigInt(Date.now()) * 1_000_000n, new Map([['size', row]])));
    expect((await StatCache.open(join(dir, 'v2.json'))).lookup('size', lstatSync(f))).toBe(row.digest);
  });
});
