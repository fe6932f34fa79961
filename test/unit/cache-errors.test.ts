import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../../base/canonical.js';
import { Cache } from '../../cache/store.js';
import type { ManifestEntry } from '../../cache/tree.js';
import { treeChanged } from '../../cache/tree-check.js';

let dir: string;
let cache: Cache;
let warnings: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netboot-unit-'));
  warnings = [];
  cache = new Cache(join(dir, 'cache'), (m) => warnings.push(m));
  await cache.init();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function storeObject(text: string): Promise<string> {
  const digest = sha256(text);
  await cache.putObject(digest, text);
  return digest;
}

describe('quarantine', () => {
  it('moves a damaged object into quarantine/', async () => {
    const digest = await storeObject('hello');
    await cache.quarantineObject(digest);
    await expect(readFile(cache.objectPath(digest))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await readdir(cache.dir('quarantine'))).some((n) => n.startsWith(`object-${digest}-`))).toBe(true);
  });

  it('takes an object already gone (another process quarantined or collected it)', async () => {
    await expect(cache.quarantineObject(sha256('never stored'))).resolves.toBeUndefined();
    await expect(cache.quarantineTree(sha256('never stored'))).resolves.toBeUndefined();
  });

  it('fails when the rename fails for another reason, and the object is still there', async () => {
    const digest = await storeObject('hello');
    await rm(cache.dir('quarantine'), { recursive: true });
    await writeFile(cache.dir('quarantine'), 'not a directory');
    await expect(cache.quarantineObject(digest)).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(await readFile(cache.objectPath(digest), 'utf8')).toBe('hello');
  });

  it('fails when quarantine/ itself is missing (ENOENT, but the object is still there)', async () => {
    const digest = await storeObject('hello');
    await rm(cache.dir('quarantine'), { recursive: true });
    await expect(cache.quarantineObject(digest)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('readAction', () => {
  const key = 'ab'.repeat(32);

  it('misses on a record that does not exist, without a warning', async () => {
    expect(await cache.readAction(key)).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('quarantines a record that does not parse, warns, and misses', async () => {
    await writeFile(cache.actionPath(key), '{"v":1,"key":');
    expect(await cache.readAction(key)).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('corrupt');
    await expect(readFile(cache.actionPath(key))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await readdir(cache.dir('quarantine'))).some((n) => n.startsWith(`action-${key}-`))).toBe(true);
  });

  it('fails on any other error instead of calling it a miss', async () => {
    await mkdir(cache.actionPath(key));
    await expect(cache.readAction(key)).rejects.toMatchObject({ code: 'EISDIR' });
  });
});

describe('treeChanged without the stat rows', () => {
  it('cannot tell by stat, so it hashes: a same-size rewrite is found', async () => {
    const tree = join(dir, 'tree');
    await mkdir(tree);
    await writeFile(join(tree, 'f'), 'aaaa');
    await chmod(tree, 0o755);
    await chmod(join(tree, 'f'), 0o644);
    const uid = process.getuid!();
    const gid = process.getgid!();
    const entries: ManifestEntry[] = [
      { path: '.', type: 'dir', mode: 0o755, uid, gid },
      { path: 'f', type: 'file', mode: 0o644, uid, gid, size: 4, digest: sha256('aaaa') },
    ];
    const noRows = join(dir, 'no-such-rows.json');
    expect(await treeChanged(tree, entries, noRows)).toBeUndefined();
    await writeFile(join(tree, 'f'), 'bbbb');
    expect(await treeChanged(tree, entries, noRows)).toBe('f: content changed');
  });

  it('treats rows that do not parse the same way', async () => {
    const tree = join(dir, 'tree');
    await mkdir(tree);
    await writeFile(join(tree, 'f'), 'bbbb');
    await chmod(tree, 0o755);
    await chmod(join(tree, 'f'), 0o644);
    const uid = process.getuid!();
    const gid = process.getgid!();
    const rows = join(dir, 'rows.json');
    await writeFile(rows, '{"rows":');
    const entries: ManifestEntry[] = [
      { path: '.', type: 'dir', mode: 0o755, uid, gid },
      { path: 'f', type: 'file', mode: 0o644, uid, gid, size: 4, digest: sha256('aaaa') },
    ];
    expect(await treeChanged(tree, entries, rows)).toBe('f: content changed');
  });
});
