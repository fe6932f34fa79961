import { randomBytes } from 'node:crypto';
import { chmod, link, lstat, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isMissing } from '../base/errno.js';
import { errors } from '../base/errors.js';
import type { Artifact, FileArtifact, TreeArtifact } from './artifact.js';
import { fsyncDir, syncFileSystem, writeFileAtomic } from './atomic.js';
import { acquire } from './lock.js';
import { detachMounts } from './mounts.js';
import type { DerivedTree } from './overlay-tree.js';
import { pinObject, stripWriteBits } from './read-only.js';
import { StatCache } from './stat-cache.js';
import { StatRows } from './stat-rows.js';
import { discard } from './trash.js';
import { digestEntries, digestTree, hashFile, type ManifestEntry, parseManifest, type TreeDigest } from './tree.js';

/**
 * What a step produced, written last, after every object it names. The key's parts are stored
 * as the key module (core/keys.ts) made them: the cache never looks inside.
 */
export interface ActionRecord<Parts = unknown> {
  v: 1;
  key: string;
  parts: Parts;
  outputs: Record<string, Artifact>;
  /** digest of the step's log object */
  log: string | null;
  durationMs: number;
  /** Informational only: never part of a key. */
  createdAt: string;
  by: { host: string; step: string };
}

/**
 * The on-disk cache:
 *   objects/ab/<sha256>      file contents and tree manifests, read-only, named by digest
 *   trees/<sha256>/          tree artifacts, named by their manifest's digest; a tree counts only
 *                            with its commit record statcache/tree-<sha256>.json (written last)
 *   actions/ab/<key>.json    action records (the commit point of a step)
 *   tmp/                     scratch and temp names; never read as cache content
 *   locks/ fingerprints/ hosts/ statcache/ logs/ quarantine/
 */
export class Cache {
  constructor(
    readonly root: string,
    /** Where the cache says what it repaired on its own (a corrupt record quarantined). */
    readonly warn: (msg: string) => void = (m) => process.stderr.write(`netboot: warning: ${m}\n`),
  ) {}

  objectPath(digest: string): string {
    return join(this.root, 'objects', digest.slice(0, 2), digest);
  }
  treePath(digest: string): string {
    return join(this.root, 'trees', digest);
  }
  actionPath(key: string): string {
    return join(this.root, 'actions', key.slice(0, 2), `${key}.json`);
  }
  artifactPath(a: Artifact): string {
    return a.kind === 'file' ? this.objectPath(a.digest) : this.treePath(a.digest);
  }
  dir(name: 'tmp' | 'locks' | 'fingerprints' | 'hosts' | 'statcache' | 'logs' | 'quarantine'): string {
    return join(this.root, name);
  }

  async init(): Promise<void> {
    // Shard directories are made once, and their parents fsynced, so that no later rename into
    // a brand-new directory can outlive the directory itself after a power loss.
    if (await exists(join(this.root, 'actions', 'ff'))) return;
    for (const d of [
      'objects',
      'trees',
      'actions',
      'tmp',
      'locks',
      'fingerprints',
      'hosts',
      'statcache',
      'logs',
      'quarantine',
    ])
      await mkdir(join(this.root, d), { recursive: true });
    for (const d of ['objects', 'actions']) {
      for (let i = 0; i < 256; i++)
        await mkdir(join(this.root, d, i.toString(16).padStart(2, '0')), { recursive: true });
      await fsyncDir(join(this.root, d));
    }
    await fsyncDir(this.root);
  }

  /** A fresh private directory under tmp/, on the cache's file system so ingesting is a rename. */
  async scratch(label: string): Promise<string> {
    const dir = join(
      this.dir('tmp'),
      `${process.pid}-${label.replace(/[^A-Za-z0-9._-]/g, '_')}-${randomBytes(4).toString('hex')}`,
    );
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** The step's record, or undefined on a miss. Only a missing record is a plain miss. */
  async readAction(key: string): Promise<ActionRecord | undefined> {
    const path = this.actionPath(key);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
    try {
      return JSON.parse(text) as ActionRecord;
    } catch {
      // Records appear whole or not at all, so this one was damaged after we wrote it: set it
      // aside (so the step runs again and rewrites it) and say so.
      const dest = join(this.dir('quarantine'), `action-${key}-${Date.now()}`);
      await this.quarantine(path, dest);
      this.warn(`${path}: the action record is corrupt; it was quarantined to ${dest} and the step runs again`);
      return undefined;
    }
  }

  async writeAction(rec: ActionRecord): Promise<void> {
    await writeFileAtomic(this.actionPath(rec.key), JSON.stringify(rec));
  }

  async hasArtifact(a: Artifact): Promise<boolean> {
    if (a.kind === 'tree') return this.treeComplete(a.digest);
    return exists(this.objectPath(a.digest));
  }

  /**
   * A tree is there when its directory, its manifest object and its commit record (the stat
   * rows, written after the rename that placed it) all are. Without the record it may be what
   * a kill left halfway through deleting or placing it: never served, replaced by the next ingest.
   */
  async treeComplete(digest: string): Promise<boolean> {
    try {
      return (
        (await lstat(this.treePath(digest))).isDirectory() &&
        (await lstat(this.objectPath(digest))).isFile() &&
        (await exists(this.treeStatPath(digest)))
      );
    } catch (e) {
      if (isMissing(e)) return false;
      throw e;
    }
  }

  /**
   * Moves a finished file into objects/ (a hard link: no copy), after flushing it to disk.
   * `hashed`: its sha256 as the caller computed it from the very bytes it wrote (a pull), not re-read.
   */
  async ingestFile(path: string, mode?: number, hashed?: string): Promise<FileArtifact> {
    const st = await stat(path);
    const digest = hashed ?? (await hashFile(path, st.size));
    const dest = this.objectPath(digest);
    if (!(await exists(dest))) {
      const fd = await open(path, 'r');
      await fd.sync();
      await fd.close();
      await mkdir(join(dest, '..'), { recursive: true });
      await chmod(path, 0o444);
      await pinObject(path);
      try {
        await link(path, dest);
        await fsyncDir(join(dest, '..'));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    return { kind: 'file', digest, size: st.size, mode: mode ?? st.mode & 0o7777 };
  }

  /** Stores bytes as an object (manifests, logs). */
  async putObject(digest: string, data: string | Uint8Array): Promise<void> {
    const dest = this.objectPath(digest);
    if (await exists(dest)) return;
    await writeFileAtomic(dest, data, 0o444);
    await pinObject(dest);
  }

  /**
   * Moves a finished tree into trees/<digest> with one rename, after its manifest is stored and
   * its data flushed. If the same tree is already there, ours is dropped. With `expect`, a tree
   * with another digest is removed and refused (TreeDigestMismatch) before anything is stored.
   */
  async ingestTree(dir: string, expect?: string): Promise<TreeArtifact> {
    // The stat rows taken while hashing describe the files as stored (a rename of the tree keeps
    // inodes and times), so later steps can be checked for writing into their inputs.
    const rows = this.pendingRows();
    const t = await digestTree(dir, { statCache: rows });
    // A tree that must have a known digest (one pulled from a remote cache) is stored only if it has it.
    if (expect && t.digest !== expect) {
      await rm(dir, { recursive: true, force: true });
      throw new TreeDigestMismatch(`tree ${expect} arrived as ${t.digest}: refused, nothing was stored`);
    }
    return this.placeTree(dir, t, rows, t.entries);
  }

  /**
   * Stores a tree made from the stored tree `base` by deriveTree: its manifest is the derived
   * one, so only the files that came from the step (`fresh`) were read. The rest are hard links
   * to `base`'s files, already read-only, whose stat rows carry over.
   */
  async ingestDerivedTree(dir: string, derived: DerivedTree, base: string): Promise<TreeArtifact> {
    const t = digestEntries(derived.entries);
    const rows = this.pendingRows();
    rows.beginSnapshot();
    const baseRows = await StatRows.read(this.treeStatPath(base));
    const fresh: ManifestEntry[] = [];
    for (const e of t.entries) {
      if (e.type !== 'file') continue;
      if (derived.fresh.has(e.path)) fresh.push(e);
      if (derived.fresh.has(e.path) || !baseRows || !rows.carry(e.path, baseRows))
        rows.record(e.path, await lstat(join(dir, e.path), { bigint: true }), e.digest!);
    }
    return this.placeTree(dir, t, rows, fresh);
  }

  private pendingRows(): StatCache {
    return new StatCache(this.treeStatPath(`pending-${process.pid}-${randomBytes(4).toString('hex')}`));
  }

  /** The commit of an ingest: manifest, read-only files, flush, one rename, then the stat rows (the commit record). */
  private async placeTree(
    dir: string,
    t: TreeDigest,
    rows: StatCache,
    writable: ManifestEntry[],
  ): Promise<TreeArtifact> {
    await this.putObject(t.digest, t.manifest);
    const dest = this.treePath(t.digest);
    // One ingester per digest at a time, so a tree found without its commit record is a kill's
    // leftover, never another ingester's tree about to be committed.
    const lock = (await acquire(join(this.dir('locks'), `tree-${t.digest}.lock`)))!;
    try {
      if (await this.treeComplete(t.digest)) await rm(dir, { recursive: true, force: true });
      else {
        stripWriteBits(dir, writable);
        syncFileSystem(dir);
        await rm(this.treeStatPath(t.digest), { force: true });
        await discard(this.dir('tmp'), dest);
        await rename(dir, dest);
        await fsyncDir(join(dest, '..'));
        await rows.saveAs(this.treeStatPath(t.digest));
      }
    } finally {
      await lock.release();
    }
    return { kind: 'tree', digest: t.digest, size: t.size, files: t.files };
  }

  treeStatPath(digest: string): string {
    return join(this.dir('statcache'), `tree-${digest}.json`);
  }

  async manifest(digest: string): Promise<ManifestEntry[]> {
    const text = await readFile(this.objectPath(digest), 'utf8');
    try {
      return parseManifest(text);
    } catch {
      // Never served again: the step that made the tree misses on the next build and rebuilds it.
      await this.quarantineTree(digest);
      await this.quarantineObject(digest);
      throw errors.manifestCorrupt(digest, this.objectPath(digest));
    }
  }

  async quarantineObject(digest: string): Promise<void> {
    await this.quarantine(this.objectPath(digest), join(this.dir('quarantine'), `object-${digest}-${Date.now()}`));
  }

  async quarantineTree(digest: string): Promise<void> {
    await this.quarantine(this.treePath(digest), join(this.dir('quarantine'), `tree-${digest}-${Date.now()}`));
  }

  /**
   * Moves damaged content out of the way. Already gone is fine (another process quarantined or
   * collected it); any other failure is thrown, since the damaged content would be served again.
   */
  private async quarantine(path: string, dest: string): Promise<void> {
    try {
      await rename(path, dest);
    } catch (e) {
      // ENOENT may also mean quarantine/ itself is missing: only a source that is gone is fine.
      if (!isMissing(e) || (await exists(path))) throw e;
    }
  }

  /**
   * Removes a scratch directory (`force` takes an absent one). Run in `finally` blocks, so a
   * failure is a warning, not an error that would hide the step's own outcome; gc retries it.
   */
  async removeTemp(path: string): Promise<void> {
    try {
      await detachMounts(path);
      await rm(path, { recursive: true, force: true });
    } catch (e) {
      this.warn(`${path}: cannot remove the scratch directory: ${(e as Error).message}`);
    }
  }
}

/** A tree that is not the one it was expected to be (`ingestTree` with `expect`). */
export class TreeDigestMismatch extends Error {}

export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if (isMissing(e)) return false;
    throw e;
  }
}

/** A directory's names, sorted; none if it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (e) {
    if (isMissing(e)) return [];
    throw e;
  }
}
