import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../base/canonical.js';
import { encodeStatRows, type StatRow, StatRows } from '../../cache/stat-rows.js';
import { type ManifestEntry, manifestBytes, manifestJson } from '../../cache/tree.js';

const dir = mkdtempSync(join(tmpdir(), 'netboot-rows-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const row = (n: number): StatRow => ({
  dev: 2049n,
  // An inode and times past 2^53: the format keeps all 64 bits.
  ino: 2n ** 60n + BigInt(n),
  size: BigInt(n * 100),
  mtimeNs: 1_700_000_000_123_456_789n + BigInt(n),
  ctimeNs: 1_700_000_001_987_654_321n,
  digest: n.toString(16).padStart(64, 'a'),
});

describe('stat rows', () => {
  const rows = new Map([
    ['etc/hostname', row(1)],
    ['usr/share/dóc/ünïcode name', row(2)],
    ['', row(3)],
  ]);

  it('come back exactly as written, every field and every path', () => {
    const back = StatRows.decode(encodeStatRows(42n, rows))!;
    expect(back.snapshotNs).toBe(42n);
    expect(back.size).toBe(3);
    for (const [p, r] of rows) expect(back.get(p)).toEqual(r);
    expect(back.get('missing')).toBeUndefined();
  });

  it('match only when all five stat fields are equal', () => {
    const back = StatRows.decode(encodeStatRows(42n, rows))!;
    const r = row(1);
    expect(back.matches('etc/hostname', r.dev, r.ino, r.size, r.mtimeNs, r.ctimeNs)).toBe(r.digest);
    expect(back.matches('etc/hostname', r.dev, r.ino, r.size, r.mtimeNs, r.ctimeNs + 1n)).toBeUndefined();
    expect(back.matches('etc/hostname', r.dev, r.ino + 1n, r.size, r.mtimeNs, r.ctimeNs)).toBeUndefined();
    expect(back.matches('etc/hostname', r.dev + 1n, r.ino, r.size, r.mtimeNs, r.ctimeNs)).toBeUndefined();
  });

  it('a row confirmed by a lookup is written again as it was read, beside new ones', () => {
    const back = StatRows.decode(encodeStatRows(42n, rows))!;
    const r = row(1);
    const ref = back.matching('etc/hostname', r.dev, r.ino, r.size, r.mtimeNs, r.ctimeNs)!;
    const again = StatRows.decode(
      encodeStatRows(
        43n,
        new Map([
          ['etc/hostname', ref],
          ['new', row(9)],
        ]),
      ),
    )!;
    expect([again.size, again.get('etc/hostname'), again.get('new')]).toEqual([2, r, row(9)]);
  });

  it('a torn or foreign file is no rows at all, never some of them', () => {
    const full = encodeStatRows(42n, rows);
    for (const cut of [1, 9, 21, full.length - 1]) expect(StatRows.decode(full.subarray(0, cut))).toBeUndefined();
    expect(StatRows.decode(Buffer.concat([full, Buffer.from('x')]))).toBeUndefined();
    expect(StatRows.decode(Buffer.from('{"v":9}'))).toBeUndefined();
    expect(StatRows.decode(Buffer.from('not json'))).toBeUndefined();
  });

  it('a cache written as JSON (version 1) is still read', async () => {
    const file = join(dir, 'v1.json');
    const r = row(7);
    const v1 = [r.dev, r.ino, r.size, r.mtimeNs, r.ctimeNs].map(String);
    writeFileSync(file, JSON.stringify({ v: 1, snapshotNs: '99', rows: { 'etc/x': [...v1, r.digest] } }));
    const back = (await StatRows.read(file))!;
    expect(back.snapshotNs).toBe(99n);
    expect(back.get('etc/x')).toEqual(r);
    expect(back.matches('etc/x', r.dev, r.ino, r.size, r.mtimeNs, r.ctimeNs)).toBe(r.digest);
    expect(await StatRows.read(join(dir, 'absent'))).toBeUndefined();
  });
});

describe('the manifest text', () => {
  it('is canonicalJson of the manifest, byte for byte, for every kind of entry', () => {
    const entries: ManifestEntry[] = [
      { path: '.', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
      { path: 'a "quoted"\\ name\n', type: 'file', mode: 0o644, uid: 1000, gid: 100, size: 5, digest: 'ab'.repeat(32) },
      { path: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, rdev: 259 },
      { path: 'link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, target: '../ü/\u0001' },
      { path: 'old', type: 'file', mode: 0o4755, uid: 0, gid: 0, size: 0, digest: 'cd'.repeat(32), mtime: -1 },
      { path: 'fifo', type: 'fifo', mode: 0o600, uid: 2 ** 32 - 2, gid: 65534, mtime: 1700000000 },
    ];
    expect(manifestJson(entries)).toBe(canonicalJson({ v: 1, entries }));
    expect(manifestJson([])).toBe(canonicalJson({ v: 1, entries: [] }));
    // Names past what a buffer sized by entry count holds, in 3-byte UTF-8, a pair and a lone surrogate.
    const long: ManifestEntry[] = ['€'.repeat(500), '😀\x7f', 'lone \ud800 half', `${'x'.repeat(5000)}"`].map((n) => ({
      path: n,
      type: 'symlink',
      mode: 0o777,
      uid: 0,
      gid: 0,
      target: n,
    }));
    expect(manifestBytes(long).equals(Buffer.from(canonicalJson({ v: 1, entries: long }), 'utf8'))).toBe(true);
    expect(manifestBytes(entries).equals(Buffer.from(canonicalJson({ v: 1, entries }), 'utf8'))).toBe(true);
  });
});
