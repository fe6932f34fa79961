import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StatCache } from '../cache/stat-cache.js';
import { digestTree } from '../cache/tree.js';

let dir: string;
let root: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'netboot-digest-'));
  root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/hostname'), 'alpha\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:*:1::::::\n');
  symlinkSync('hostname', join(root, 'etc/name'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const past = (path: string) => utimesSync(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));

describe('tree digest', () => {
  it('covers path, type, mode, owner, content and link target, but not mtimes', async () => {
    const base = (await digestTree(root)).digest;
    const changed = async (mutate: () => void, undo: () => void) => {
      mutate();
      const d = (await digestTree(root)).digest;
      undo();
      expect((await digestTree(root)).digest).toBe(base);
      return d;
    };
    expect(
      await changed(
        () => chmodSync(join(root, 'etc/shadow'), 0o600),
        () => chmodSync(join(root, 'etc/shadow'), 0o644),
      ),
    ).not.toBe(base);
    expect(
      await changed(
        () => chownSync(join(root, 'etc/shadow'), 0, 42),
        () => chownSync(join(root, 'etc/shadow'), 0, 0),
      ),
    ).not.toBe(base);
    expect(
      await changed(
        () => writeFileSync(join(root, 'etc/hostname'), 'beta\n'),
        () => writeFileSync(join(root, 'etc/hostname'), 'alpha\n'),
      ),
    ).not.toBe(base);
    const relink = (t: string) => () => {
      rmSync(join(root, 'etc/name'));
      symlinkSync(t, join(root, 'etc/name'));
    };
    expect(await changed(relink('shadow'), relink('hostname'))).not.toBe(base);
    utimesSync(join(root, 'etc/hostname'), new Date(0), new Date(0));
    expect((await digestTree(root)).digest).toBe(base);
    expect((await digestTree(root, { withMtime: true })).digest).not.toBe(base);
  });

  it('with a stat cache, re-reads only files whose stat changed', async () => {
    past(join(root, 'etc/hostname'));
    past(join(root, 'etc/shadow'));
    const file = join(dir, 'stat.json');
    let cache = await StatCache.open(file);
    const cold = await digestTree(root, { statCache: cache });
    await cache.save();
    expect(cache.misses).toBe(2);

    cache = await StatCache.open(file);
    const warm = await digestTree(root, { statCache: cache });
    await cache.save();
    expect([cache.hits, cache.misses]).toEqual([2, 0]);
    expect(warm.digest).toBe(cold.digest);

    writeFileSync(join(root, 'etc/hostname'), 'gamma\n');
    past(join(root, 'etc/hostname'));
    cache = await StatCache.open(file);
    const edited = await digestTree(root, { statCache: cache });
    expect([cache.hits, cache.misses]).toEqual([1, 1]);
    expect(edited.digest).not.toBe(cold.digest);
  });

  it("applies git's racy-timestamp rule: a file modified as the cache was written is hashed again", async () => {
    const file = join(dir, 'stat.json');
    let cache = await StatCache.open(file);
    await digestTree(root, { statCache: cache });
    await cache.save();
    // Same size, same second: only content tells the change apart, so it must not be trusted.
    writeFileSync(join(root, 'etc/hostname'), 'omega\n');
    cache = await StatCache.open(file);
    const d = await digestTree(root, { statCache: cache });
    expect(cache.hits).toBe(0);
    expect(d.entries.find((e) => e.path === 'etc/hostname')!.digest).toBe(
      (await digestTree(root)).entries.find((e) => e.path === 'etc/hostname')!.digest,
    );
  });
});
