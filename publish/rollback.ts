import { join } from 'node:path';
import { errors } from '../base/errors.js';
import { acquire } from '../cache/lock.js';
import type { Cache } from '../cache/store.js';
import type { TargetName } from '../core/recipe.js';
import { runReloads } from './publisher.js';
import { listReleases } from './release-list.js';
import { type Target, wentLive } from './target.js';

export interface RollbackOptions {
  /** The release to make live; default: the newest one older than the live one. */
  want?: string;
  reload: Partial<Record<TargetName, string>>;
  /** Its locks/ hold the host's publish lock, as a publish takes it. */
  cache: Cache;
  signal: AbortSignal;
}

/**
 * Makes an earlier release of the host live again on each target (in `targets`' order), then runs
 * the reload hooks of those that switched. Returns the release id now live.
 */
export async function rollback(host: string, targets: Target[], o: RollbackOptions): Promise<string> {
  const rows = await listReleases(host, targets);
  const states = new Map(await Promise.all(targets.map(async (t) => [t, await t.state(host)] as const)));
  const live = rows
    .filter((r) => r.live.length)
    .map((r) => r.id)
    .sort()
    .pop();
  // The default is the newest release below the live one that went live: never one that failed its boot test.
  const want =
    o.want ??
    rows
      .map((r) => r.id)
      .filter((id) => live && id < live)
      .filter((id) => [...states.values()].every((st) => !st.ids.includes(id) || wentLive(st, id)))
      .pop();
  if (!want) throw errors.nothingToRollBack(host);
  if (!rows.some((r) => r.id === want))
    throw errors.unknownRelease(
      host,
      want,
      rows.map((r) => r.id),
    );
  const lock = await acquire(join(o.cache.dir('locks'), `publish-${host}.lock`), { signal: o.signal });
  try {
    const switched: Target[] = [];
    for (const t of targets) {
      const st = await t.state(host);
      if (!st.ids.length) continue;
      // A target that did not change in `want` serves the newest release it had live at that point.
      const pick = st.ids
        .filter((id) => id === want || (id < want && wentLive(st, id)))
        .sort()
        .pop();
      if (!pick) throw errors.unknownRelease(host, `${want} on ${t.name}`, st.ids);
      if (pick === st.current) continue;
      await t.switch(host, pick);
      switched.push(t);
    }
    await runReloads(host, want, switched, o.reload);
  } finally {
    await lock?.release();
  }
  return want;
}
