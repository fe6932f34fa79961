import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Artifact } from './artifact.js';
import { writeFileAtomic } from './atomic.js';
import type { GcRoots } from './gc.js';
import type { Cache } from './store.js';

/**
 * One step of a host's last build: what `explain` compares with, and a root `gc` keeps. Its key
 * parts are the key module's (core/keys.ts), stored as given.
 */
export interface HistoryStep<Parts = unknown> {
  key: string;
  parts: Parts;
  outcome: 'cached' | 'ran';
  reasons: string[];
  outputs: Record<string, Artifact>;
}

/** A host's last successful build, step by step: `hosts/<host>.json` in the cache. */
export interface HostHistory<Parts = unknown> {
  v: 1;
  steps: Record<string, HistoryStep<Parts>>;
}

const historyPath = (cache: Cache, host: string) => join(cache.dir('hosts'), `${host}.json`);

/** The host's last build; an empty one if it was never built (or its file is unreadable as a history). */
export async function readHistory<Parts = unknown>(cache: Cache, host: string): Promise<HostHistory<Parts>> {
  let text: string;
  try {
    text = await readFile(historyPath(cache, host), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { v: 1, steps: {} };
    throw e;
  }
  try {
    const h = JSON.parse(text) as HostHistory<Parts>;
    if (h.v === 1 && h.steps && typeof h.steps === 'object') return h;
  } catch {
    // written whole or not at all (writeFileAtomic): a file that does not parse was not ours
  }
  return { v: 1, steps: {} };
}

/**
 * Records the steps a build resolved into the host's history `h` (as read at its start). A no-op
 * build leaves the file as it was: no write, no fsync.
 */
export async function recordBuild<Parts>(
  cache: Cache,
  host: string,
  h: HostHistory<Parts>,
  steps: { step: string; entry: HistoryStep<Parts> }[],
): Promise<void> {
  let changed = false;
  for (const { step, entry } of steps) {
    if (h.steps[step]?.key === entry.key) continue;
    h.steps[step] = entry;
    changed = true;
  }
  if (changed) await writeFileAtomic(historyPath(cache, host), JSON.stringify(h));
}

/** Every key and artifact digest the named hosts' histories hold: gc's roots from the cache side. */
export async function historyRoots(cache: Cache, hosts: string[]): Promise<GcRoots> {
  const keys = new Set<string>();
  const digests = new Set<string>();
  for (const h of hosts)
    for (const s of Object.values((await readHistory(cache, h)).steps)) {
      keys.add(s.key);
      for (const a of Object.values(s.outputs)) digests.add(a.digest);
    }
  return { keys, digests };
}
