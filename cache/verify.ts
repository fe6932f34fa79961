import { lstat, mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../base/canonical.js';
import { ifMissing } from '../base/errno.js';
import { type ActionRecord, type Cache, exists, listDir } from './store.js';
import { hashFile, parseManifest } from './tree.js';
import { treeChanged } from './tree-check.js';

export interface VerifyResult {
  objects: number;
  trees: number;
  actions: number;
  corrupt: { kind: 'object' | 'tree' | 'action'; name: string; problem: string }[];
  /** Temp names left by interrupted writers: not entries, `gc` removes them. */
  leftovers: number;
}

const isTemp = (name: string) => name.startsWith('.tmp-');

/** One verify run: what it found so far, and the digests found bad (what names them is bad too). */
interface Run {
  cache: Cache;
  res: VerifyResult;
  bad: Set<string>;
}

/**
 * Re-hashes every object and tree and checks every action record against what it names.
 * Anything wrong is moved to quarantine/ so it can never be served as a hit again.
 */
export async function verifyCache(cache: Cache, onProgress?: (msg: string) => void): Promise<VerifyResult> {
  const res: VerifyResult = { objects: 0, trees: 0, actions: 0, corrupt: [], leftovers: 0 };
  const run: Run = { cache, res, bad: new Set<string>() };
  await checkObjects(run);
  onProgress?.(`${run.res.objects} objects checked`);
  await checkTrees(run);
  onProgress?.(`${run.res.trees} trees checked`);
  await checkActions(run);
  run.res.leftovers += (await listDir(cache.dir('tmp'))).length;
  return run.res;
}

async function quarantine(run: Run, kind: 'object' | 'tree' | 'action', path: string, name: string, problem: string) {
  run.res.corrupt.push({ kind, name, problem });
  const dest = join(run.cache.dir('quarantine'), `${kind}-${name}-${Date.now()}`);
  await mkdir(run.cache.dir('quarantine'), { recursive: true });
  // Already gone is fine (a build quarantined it first); anything else would leave it served.
  await rename(path, dest).catch(ifMissing(undefined));
}

async function checkObjects(run: Run): Promise<void> {
  const { cache, res } = run;
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
        run.bad.add(name);
        await quarantine(run, 'object', path, name, `content hashes to ${actual.slice(0, 12)}`);
      }
    }
  }
}

async function checkTrees(run: Run): Promise<void> {
  const { cache, res } = run;
  for (const name of await listDir(join(cache.root, 'trees'))) {
    const path = cache.treePath(name);
    // Without its commit record a tree is not an entry (it is never served): gc removes it.
    if (!(await exists(cache.treeStatPath(name)))) {
      res.leftovers++;
      continue;
    }
    res.trees++;
    const problem = run.bad.has(name) ? 'its manifest is corrupt' : await treeProblem(cache, name);
    if (problem) {
      run.bad.add(name);
      await quarantine(run, 'tree', path, name, problem);
    }
  }
}

async function treeProblem(cache: Cache, name: string): Promise<string | undefined> {
  const manifest = await readFile(cache.objectPath(name), 'utf8').catch(ifMissing(undefined));
  if (manifest === undefined) return 'its manifest is missing';
  if (sha256(manifest) !== name) return 'its manifest does not match';
  // Against the manifest, not a fresh digest: the tree's files are stored without their write bits.
  const entries = parseManifest(manifest);
  const diff = await treeChanged(cache.treePath(name), entries, cache.treeStatPath(name), { hash: true });
  return diff ? `${diff} (changed after it was stored)` : undefined;
}

async function checkActions(run: Run): Promise<void> {
  const { cache, res } = run;
  for (const sub of await listDir(join(cache.root, 'actions'))) {
    for (const name of await listDir(join(cache.root, 'actions', sub))) {
      const path = join(cache.root, 'actions', sub, name);
      if (isTemp(name)) {
        res.leftovers++;
        continue;
      }
      res.actions++;
      const key = name.replace(/\.json$/, '');
      const problem = await actionProblem(run, path, key);
      if (problem) await quarantine(run, 'action', path, key, problem);
    }
  }
}

/** What is wrong with a record: it does not parse, names another key, or names a bad or missing output. */
async function actionProblem(run: Run, path: string, key: string): Promise<string | undefined> {
  const text = await readFile(path, 'utf8').catch(ifMissing(undefined));
  if (text === undefined) return undefined; // removed meanwhile (gc, or a build that found it corrupt)
  let rec: ActionRecord | undefined;
  try {
    rec = JSON.parse(text) as ActionRecord;
  } catch {
    return 'does not parse';
  }
  const missing =
    Object.entries(rec.outputs).find(([, a]) => run.bad.has(a.digest)) ??
    (rec.log && run.bad.has(rec.log) ? ['log', null] : undefined);
  if (rec.key !== key) return `names key ${String(rec.key).slice(0, 12)}`;
  if (missing) return `output ${missing[0]} is corrupt`;
  const gone = [];
  for (const [n, a] of Object.entries(rec.outputs)) if (!(await run.cache.hasArtifact(a))) gone.push(n);
  return gone.length ? `output ${gone.join(', ')} missing` : undefined;
}
