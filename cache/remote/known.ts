// Records the remote cache served whose outputs stay in the registry ("builds without the
// bytes", as Bazel's): remote/<ab>/<key>.json in the local cache. A known record is not a local
// hit (the outputs are not here, and `cache verify` and gc never look at these files): it gives
// the step's output digests, so the keys below it are known without pulling or running it, also
// in plan mode and with --no-remote. A build that must read those outputs pulls them (or runs
// the step, if the registry cannot give them).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isMissing } from '../../base/errno.js';
import { writeFileAtomic } from '../atomic.js';
import type { ActionRecord, Cache } from '../store.js';

const knownPath = (cache: Cache, key: string) => join(cache.root, 'remote', key.slice(0, 2), `${key}.json`);

/** The remote's record of `key`, if a lookup found one before; never one for another key. */
export async function readKnown(cache: Cache, key: string): Promise<ActionRecord | undefined> {
  let text: string;
  try {
    text = await readFile(knownPath(cache, key), 'utf8');
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
  try {
    const rec = JSON.parse(text) as ActionRecord;
    return rec?.v === 1 && rec.key === key && typeof rec.outputs === 'object' ? rec : undefined;
  } catch {
    return undefined; // written whole or not at all: a file that does not parse is not ours
  }
}

export async function writeKnown(cache: Cache, rec: ActionRecord): Promise<void> {
  await writeFileAtomic(knownPath(cache, rec.key), JSON.stringify(rec));
}
