import { chmod, lstat, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FileArtifact } from '../../cache/artifact.js';
import { Cache } from '../../cache/store.js';
import { LocalTarget } from '../../publish/local-target.js';
import { prune } from '../../publish/publisher.js';
import { isReleaseId, MANIFEST_NAME, nextId, releaseDigest } from '../../publish/release.js';
import { rollback } from '../../publish/rollback.js';
import type { PlannedItem, Target } from '../../publish/target.js';

describe('release ids', () => {
  it('start at 000001 and follow the highest existing id, as numbers', () => {
    expect(nextId([])).toBe('000001');
    expect(nextId(['000001', '000002'])).toBe('000003');
    expect(nextId(['000009', '000002'])).toBe('000010');
    expect(nextId(['000001', '.staging-x', 'history.json'])).toBe('000002');
  });

  it('are six digits; anything else in a host directory is not a release', () => {
    expect(isReleaseId(nextId([]))).toBe(true);
    for (const name of ['00001', '0000001', '.deleting-000001', 'history.json', '00000a'])
      expect(isReleaseId(name)).toBe(false);
  });
});

describe('releaseDigest', () => {
  const art = (digest: string, mode = 0o644): FileArtifact => ({ kind: 'file', digest, size: 1, mode });
  const items = [{ path: 'vmlinuz', artifact: art('a'.repeat(64)), writable: false }];
  const links = [{ target: 'tftp' as const, path: 'pxelinux.cfg/01-aa', to: 'pxelinux.cfg/default' }];

  it('is stable: equal requests give equal digests', () => {
    expect(releaseDigest(items, links)).toBe(releaseDigest(structuredClone(items), structuredClone(links)));
    expect(releaseDigest(items, links)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with each part of what is published', () => {
    const base = releaseDigest(items, links);
    const variants = [
      releaseDigest([{ ...items[0], path: 'kernel' }], links),
      releaseDigest([{ ...items[0], artifact: art('b'.repeat(64)) }], links),
      releaseDigest([{ ...items[0], artifact: art('a'.repeat(64), 0o755) }], links),
      releaseDigest([{ ...items[0], writable: true }], links),
      releaseDigest(items, []),
      releaseDigest(items, [{ ...links[0], to: 'pxelinux.cfg/other' }]),
    ];
    for (const v of variants) expect(v).not.toBe(base);
    expect(new Set(variants).size).toBe(variants.length);
  });

  it('ignores what does not change the release (the artifact size is implied by its digest)', () => {
    expect(releaseDigest([{ ...items[0], artifact: { ...items[0].artifact, size: 99 } }], links)).toBe(
      releaseDigest(items, links),
    );
  });
});

describe('LocalTarget on a temp dir', () => {
  let dir: string;
  let cache: Cache;
  let target: LocalTarget;
  let made = 0;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'netboot-unit-release-'));
    cache = new Cache(join(dir, 'cache'));
    await cache.init();
    target = new LocalTarget('tftp', join(dir, 'tftp'), cache);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const planned = async (name: string, text: string): Promise<PlannedItem> => {
    // ingestFile hard-links the file into the cache: every source gets a fresh name.
    const src = join(dir, `${name}.${++made}.src`);
    await writeFile(src, text);
    const art = await cache.ingestFile(src, 0o644);
    const entry = {
      path: name,
      type: 'file' as const,
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: art.size,
      digest: art.digest,
    };
    return { path: name, artifact: art, writable: false, entries: [entry], source: () => cache.objectPath(art.digest) };
  };
  const publish = async (id: string, text: string) => {
    const item = await planned('kernel', text);
    const prev = (await target.state('h1')).current;
    await target.stage(
      'h1',
      id,
      [item],
      [],
      releaseDigest([item], []),
      prev ? await target.manifest('h1', prev) : undefined,
    );
    await target.switch('h1', id);
  };

  it('an unpublished host has no current release, no ids and no history', async () => {
    expect(await target.state('h1')).toEqual({ current: undefined, ids: [], history: [] });
  });

  it('stages a release under its id with its manifest, and the live path does not move until the switch', async () => {
    const item = await planned('kernel', 'v1');
    const r = await target.stage('h1', '000001', [item], [], 'd1', undefined);
    expect(r.linked + r.copied).toBe(1);
    expect(await target.state('h1')).toEqual({ current: undefined, ids: ['000001'], history: [] });
    await expect(lstat(join(dir, 'tftp', 'h1'))).rejects.toMatchObject({ code: 'ENOENT' });
    const m = await target.manifest('h1', '000001');
    expect(m).toMatchObject({ v: 1, host: 'h1', target: 'tftp', id: '000001', digest: 'd1' });
    expect(m?.entries.map((e) => e.path)).toEqual(['kernel']);
    expect(await readFile(join(dir, 'tftp', '.releases', 'h1', '000001', 'kernel'), 'utf8')).toBe('v1');
    expect(await readFile(join(dir, 'tftp', '.releases', 'h1', '000001', MANIFEST_NAME), 'utf8')).toContain(
      '"id":"000001"',
    );
  });

  it('switch makes a release live through the host symlink and appends it to the history', async () => {
    await publish('000001', 'v1');
    await publish('000002', 'v2');
    expect(await readlink(join(dir, 'tftp', 'h1'))).toBe(join('.releases', 'h1', '000002'));
    expect(await readFile(join(dir, 'tftp', 'h1', 'kernel'), 'utf8')).toBe('v2');
    expect(await target.state('h1')).toEqual({
      current: '000002',
      ids: ['000001', '000002'],
      history: ['000001', '000002'],
    });
    // Switching back (a rollback) moves the id to the end of the history instead of repeating it.
    await target.switch('h1', '000001');
    expect(await target.state('h1')).toMatchObject({ current: '000001', history: ['000002', '000001'] });
    expect(await readFile(join(dir, 'tftp', 'h1', 'kernel'), 'utf8')).toBe('v1');
  });

  it('a file equal to the last release is linked from it, not copied', async () => {
    await publish('000001', 'same');
    const item = await planned('kernel', 'same');
    const r = await target.stage('h1', '000002', [item], [], 'd2', await target.manifest('h1', '000001'));
    expect(r).toMatchObject({ linked: 1, copied: 0, bytesWritten: 0 });
  });

  it('a manifest kept from the stage or an earlier read is what the file holds; an edit is read again', async () => {
    await publish('000001', 'v1');
    const file = join(dir, 'tftp', '.releases', 'h1', '000001', MANIFEST_NAME);
    // The manifest kept from the stage is exactly what a fresh read of the file gives.
    const onDisk = JSON.parse(await readFile(file, 'utf8'));
    expect(await target.manifest('h1', '000001')).toStrictEqual(onDisk);
    expect(await new LocalTarget('tftp', join(dir, 'tftp'), cache).manifest('h1', '000001')).toStrictEqual(onDisk);
    // Edited behind netboot's back (same size, even): the edit is what is read and checked.
    const edited = JSON.stringify(onDisk).replace(
      `"digest":"${onDisk.digest}"`,
      `"digest":"${'e'.repeat(onDisk.digest.length)}"`,
    );
    await writeFile(file, edited);
    expect((await target.manifest('h1', '000001'))?.digest).toBe('e'.repeat(onDisk.digest.length));
    await writeFile(file, 'not json');
    expect(await target.manifest('h1', '000001')).toBeUndefined();
    expect(await target.check('h1', '000001', 'stat')).toEqual([
      { path: MANIFEST_NAME, problem: 'the release manifest is missing or unreadable' },
    ]);
  });

  it("a live file changed behind netboot's back is found by the check that follows a read", async () => {
    await publish('000001', 'v1');
    expect(await target.check('h1', '000001', 'stat')).toEqual([]);
    const kernel = join(dir, 'tftp', '.releases', 'h1', '000001', 'kernel');
    await chmod(kernel, 0o644);
    await writeFile(kernel, 'v9');
    expect(await target.check('h1', '000001', 'stat')).toEqual([
      { path: 'kernel', problem: expect.stringMatching(/mode|modified/) },
    ]);
  });

  it('remove deletes releases by id and leaves the others', async () => {
    await publish('000001', 'v1');
    await publish('000002', 'v2');
    await target.remove('h1', ['000001']);
    expect((await target.state('h1')).ids).toEqual(['000002']);
    expect(await readFile(join(dir, 'tftp', 'h1', 'kernel'), 'utf8')).toBe('v2');
  });

  it('prune keeps the newest `keep`, the live one and the one live before it', async () => {
    for (const [i, id] of ['000001', '000002', '000003', '000004', '000005'].entries()) await publish(id, `v${i}`);
    // 000001 live again (a rollback): it and the one live before it (000005) are kept beside the newest.
    await target.switch('h1', '000001');
    const removed = await prune('h1', [target as Target], { keep: 1, notice: () => {} });
    expect(removed.sort()).toEqual(['tftp:000002', 'tftp:000003', 'tftp:000004']);
    expect((await target.state('h1')).ids).toEqual(['000001', '000005']);
  });

  it('rollback never picks a release that was staged but never went live (one that failed its boot test)', async () => {
    await publish('000001', 'v1');
    await publish('000002', 'v2');
    const item = await planned('kernel', 'broken');
    await target.stage('h1', '000003', [item], [], releaseDigest([item], []), await target.manifest('h1', '000002'));
    await publish('000004', 'v4');
    const o = { reload: {}, cache, signal: new AbortController().signal };
    expect(await rollback('h1', [target], o)).toBe('000002');
    expect(await readFile(join(dir, 'tftp', 'h1', 'kernel'), 'utf8')).toBe('v2');
    // Named explicitly, it is what the user asked for.
    expect(await rollback('h1', [target], { ...o, want: '000003' })).toBe('000003');
    expect(await readFile(join(dir, 'tftp', 'h1', 'kernel'), 'utf8')).toBe('broken');
  });

  it('prune keeps at least one release whatever `keep` says', async () => {
    await publish('000001', 'v1');
    await publish('000002', 'v2');
    await prune('h1', [target], { keep: 0, notice: () => {} });
    expect((await target.state('h1')).ids).toEqual(['000001', '000002']);
  });
});
