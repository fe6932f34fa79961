import { existsSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../base/canonical.js';
import type { Artifact } from '../../cache/artifact.js';
import { artifactRoots, collect } from '../../cache/gc.js';
import { historyRoots, readHistory, recordBuild } from '../../cache/history.js';
import { Cache } from '../../cache/store.js';
import type { ReleaseManifest } from '../../publish/release.js';
import { releaseRoots } from '../../publish/roots.js';
import type { Target } from '../../publish/target.js';

let dir: string;
let cache: Cache;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'netboot-unit-gc-'));
  cache = new Cache(join(dir, 'cache'));
  await cache.init();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function object(text: string): Promise<Artifact> {
  const digest = sha256(text);
  await cache.putObject(digest, text);
  return { kind: 'file', digest, size: text.length, mode: 0o644 };
}

/** An action record naming `out`, made to look a month old. */
async function record(key: string, out: Artifact) {
  const by = { host: 'alpha', step: key };
  await cache.writeAction({ v: 1, key, parts: {}, outputs: { out }, log: null, durationMs: 0, createdAt: '', by });
  const old = new Date(Date.now() - 30 * 86_400_000);
  utimesSync(cache.actionPath(key), old, old);
}

/** A target that holds the given releases of host alpha. */
function target(releases: Record<string, Artifact[]>): Target {
  const manifest = (id: string) =>
    ({ items: releases[id].map((artifact) => ({ artifact })) }) as unknown as ReleaseManifest;
  return {
    state: async (host: string) => ({ ids: host === 'alpha' ? Object.keys(releases) : [], history: [] }),
    manifest: async (host: string, id: string) => (host === 'alpha' ? manifest(id) : undefined),
  } as unknown as Target;
}

describe('gc roots', () => {
  it('releaseRoots names every artifact of every release of the hosts on every target', async () => {
    const [a, b, c] = await Promise.all(['ra', 'rb', 'rc'].map(object));
    const targets = [target({ '000001': [a], '000002': [a, b] }), target({ '000001': [c] })];
    const roots = await releaseRoots(targets, ['alpha', 'beta']);
    expect([...roots.digests].sort()).toEqual([a.digest, b.digest, c.digest].sort());
    expect(roots.keys.size).toBe(0);
  });

  it("historyRoots names each host's last build: its keys and their outputs", async () => {
    const out = await object('history output');
    const entry = { key: 'k-hist', parts: {}, outcome: 'ran' as const, reasons: [], outputs: { out } };
    await recordBuild(cache, 'alpha', await readHistory(cache, 'alpha'), [{ step: 's', entry }]);
    const roots = await historyRoots(cache, ['alpha', 'never-built']);
    expect([...roots.keys]).toEqual(['k-hist']);
    expect([...roots.digests]).toEqual([out.digest]);
  });

  it("collect keeps what any root names, and what a root key's record names; the rest goes", async () => {
    const byKey = await object('kept through its record');
    const released = await object('kept by a release');
    const loose = await object('named by nothing');
    const unrooted = await object('named by an old unrooted record');
    await record('k-root', byKey);
    await record('k-old', unrooted);
    const roots = [{ keys: new Set(['k-root']), digests: new Set<string>() }, artifactRoots([released])];
    const r = await collect(cache, { roots });
    const there = (a: Artifact) => existsSync(cache.objectPath(a.digest));
    expect([byKey, released, loose, unrooted].map(there)).toEqual([true, true, false, false]);
    expect(existsSync(cache.actionPath('k-root'))).toBe(true);
    expect(existsSync(cache.actionPath('k-old'))).toBe(false);
    expect(r.actionsRemoved).toBe(1);
  });
});
