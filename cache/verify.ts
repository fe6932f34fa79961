import { lstat, mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../base/canonical.js';
import { exists, listDir, type ActionRecord, type Cache } from './store.js';
import { hashFile, parseManifest } from './tree.js';
import { treeChanged } from './tree-check.js';
import { ifMissing } from '../base/errno.js';

export interface VerifyResult {
  objects: number;
  trees: number;
  actions: number;
  corrupt: { kind: 'object' | 'tree' | 'action'; name: string; problem: string }[];
  /** Temp names left by interrupted writers: not entries, `gc` removes them. */
  leftovers: number;
}

const isTemp = (name: string) => name.startsWith('.tmp-');

/**
 * Re-hashes every object and tree and checks every action record against what it names.
 * Anything wrong is moved to quarantine/ so it can never be served as a hit again.
 */
export async function verifyCache(cache: Cache, onProgress?: (msg: string) => void): Promise<VerifyResult> {
  const res: VerifyResult = { objects: 0, trees: 0, actions: 0, corrupt: [], leftovers: 0 };
  const quarantine = async (kind: 'object' | 'tree' | 'action', path: string, name: string, problem: string) => {
    res.corrupt.push({ kind, name, problem });
    const dest = join(cache.dir('quarantine'), `${kind}-${name}-${Date.now()}`);
    await mkdir(cache.dir('quarantine'), { recursive: true });
    // Already gone is fine (a build quarantined it first); anything else would leave it served.
    await rename(path, dest).catch(ifMissing(undefined));
  };
  const bad = new Set<string>();

  for (const sub of await listDir(join(cache.root, 'objects'))) {
    for (const name of await listDir(join(cache.root, 'objects', sub))) {
      const path = join(cache.root, 'objects', sub, name);
      if (isTemp(name)) {
        res.leftovers++;
        continue;
      }
      res.objects++;
      const st = await lstat(path);
      const actual = st.isFile() ? await hashFile(path, st.size) : 'not a file';
      if (actual !== name) {
        bad.add(name);
        await quarantine('object', path, name, `content hashes to ${actual.slice(0, 12)}`);
      }
    }
  }
  onProgress?.(`${res.objects} objects checked`);

  for (const name of await listDir(join(cache.root, 'trees'))) {
    const path = cache.treePath(name);
    // Without its commit record a tree is not an entry (it is never served): gc removes it.
    if (!(await exists(cache.treeStatPath(name)))) {
      res.leftovers++;
      continue;
    }
    res.trees++;
    let problem: string | undefined;
    if (bad.has(name)) problem = 'its manifest is corrupt';
    else {
      const manifest = await readFile(cache.objectPath(name), 'utf8').catch(ifMissing(undefined));
      if (manifest === undefined) problem = 'its manifest is missing';
      else if (sha256(manifest) !== name) problem = 'its manifest does not match';
      else {
        // Against the manifest, not a fresh digest: the tree's files are stored without their write bits.
        const diff = await treeChanged(path, parseManifest(manifest), cache.treeStatPath(name), { hash: true });
        if (diff) problem = `${diff} (changed after it was stored)`;
      }
    }
    if (problem) {
      bad.add(name);
      await quarantine('tree', path, name, problem);
    }
  }
  onProgress?.(`${res.trees} trees checked`);

  for (const sub of await listDir(join(cache.root, 'actions'))) {
    for (const name of await listDir(join(cache.root, 'actions', sub))) {
      const path = join(cache.root, 'actions', sub, name);
      if (isTemp(name)) {
        res.leftovers++;
        continue;
      }
      res.actions++;
      const key = name.replace(/\.json$/, '');
      const text = await readFile(path, 'utf8').catch(ifMissing(undefined));
      if (text === undefined) continue; // removed meanwhile (gc, or a build that found it corrupt)
      let rec: ActionRecord | undefined;
      try {
        rec = JSON.parse(text) as ActionRecord;
      } catch {
        await quarantine('action', path, key, 'does not parse');
        continue;
      }
      const missing = Object.entries(rec.outputs).find(([, a]) => bad.has(a.digest)) ?? (rec.log && bad.has(rec.log) ? ['log', null] : undefined);
      if (rec.key !== key) await quarantine('action', path, key, `names key ${String(rec.key).slice(0, 12)}`);
      else if (missing) await quarantine('action', path, key, `output ${missing[0]} is corrupt`);
      else {
        const gone = [];
        for (const [n, a] of Object.entries(rec.outputs)) if (!(await cache.hasArtifact(a))) gone.push(n);
        if (gone.length) await quarantine('action', path, key, `output ${gone.join(', ')} missing`);
      }
    }
  }
  res.leftovers += (await listDir(cache.dir('tmp'))).length;
  return res;
}

