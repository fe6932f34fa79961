import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  statfs,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { ifMissing, isErrno, isMissing } from '../base/errno.js';
import { statSignature } from '../base/file-signature.js';
import type { CheckDepth } from '../cache/artifact-check.js';
import { fsyncDir, syncFileSystem, writeFileAtomic } from '../cache/atomic.js';
import { copySparseFile, copyTree } from '../cache/copy.js';
import { type Cache, listDir } from '../cache/store.js';
import type { PublishLink, TargetName } from '../core/recipe.js';
import { makeDiskPrivate } from './disk-modes.js';
import { linkable, type Staging, sameFile, stageItem } from './local-stage.js';
import { type DiskSig, isReleaseId, MANIFEST_NAME, type ReleaseItem, type ReleaseManifest } from './release.js';
import { checkRelease, type Damage } from './release-check.js';
import { safeDir } from './safe-dirs.js';
import type { PlannedItem, StageResult, Target, TargetState } from './target.js';

/**
 * A target root on a local file system:
 *   <root>/<host>                      symlink to .releases/<host>/<id>: the live path
 *   <root>/.releases/<host>/<id>/      an immutable release (read-only content hardlinked)
 *   <root>/.releases/<host>/history.json   ids in the order they went live
 *   <root>/.disks/<host>/<disk>        writable disks, each a private copy, never rewritten by netboot
 */
export class LocalTarget implements Target {
  /**
   * Release manifests already parsed, by path, with the stat they were read at. A release is never
   * rewritten, and a publish reads its live one up to four times (plan, check, prune); a 30k-entry
   * manifest takes tens of ms to parse. Any change to the file (a new inode, size, mtime or ctime)
   * makes it read again. At most two are kept (the live one and the one just staged): a parsed
   * 30k-entry manifest holds tens of MB, and `publish --all` goes through every host.
   */
  private readonly parsed = new Map<string, { sig: string; m: ReleaseManifest }>();

  private keepParsed(path: string, sig: string, m: ReleaseManifest): void {
    this.parsed.delete(path);
    this.parsed.set(path, { sig, m });
    for (const old of this.parsed.keys()) if (this.parsed.size > 2) this.parsed.delete(old);
  }

  constructor(
    readonly name: TargetName,
    readonly root: string,
    private readonly cache: Cache,
  ) {}

  private rel(host: string, ...p: string[]) {
    return join(this.root, '.releases', host, ...p);
  }

  async state(host: string): Promise<TargetState> {
    await safeDir(this.root, `.releases/${host}`, false);
    // EINVAL: something that is not a link is there; it is not a release of ours.
    const current = await readlink(join(this.root, host)).then(
      (t) => t.split('/').pop(),
      (e: unknown) => {
        if (isMissing(e) || isErrno(e, 'EINVAL')) return undefined;
        throw e;
      },
    );
    const ids = (await listDir(this.rel(host))).filter(isReleaseId);
    const historyText = await readFile(this.rel(host, 'history.json'), 'utf8').catch(ifMissing(undefined));
    const history = parsedOr<string[]>(historyText, []);
    return { current, ids, history };
  }

  async manifest(host: string, id: string): Promise<ReleaseManifest | undefined> {
    const path = this.rel(host, id, MANIFEST_NAME);
    const before = await fileSig(path);
    const hit = this.parsed.get(path);
    if (before && hit?.sig === before) {
      this.keepParsed(path, before, hit.m);
      return hit.m;
    }
    // Missing or not parsing: `check` reports it as such, and a publish replaces the release.
    const text = await readFile(path, 'utf8').catch(ifMissing(undefined));
    const m = parsedOr<ReleaseManifest | undefined>(text, undefined);
    // Kept only if nothing replaced the file while it was read.
    if (m && before && (await fileSig(path)) === before) this.keepParsed(path, before, m);
    else this.parsed.delete(path);
    return m;
  }

  async free(): Promise<{ bytes: number; inodes: number; path: string }> {
    await mkdir(this.root, { recursive: true });
    const s = await statfs(this.root);
    return { bytes: s.bavail * s.bsize, inodes: s.ffree, path: this.root };
  }

  /** Bytes a stage would write: what can neither be hardlinked from the last release nor from the cache. */
  async estimate(items: PlannedItem[], prev: ReleaseManifest | undefined): Promise<{ bytes: number; inodes: number }> {
    await mkdir(this.root, { recursive: true });
    const rootDev = (await lstat(this.root)).dev;
    // Every file and directory takes whole blocks: a tree of small files needs far more than its bytes.
    const block = (await statfs(this.root)).bsize;
    const blocks = (n: number) => Math.ceil(n / block) * block;
    const prevFiles = new Map((prev?.entries ?? []).map((e) => [e.path, e]));
    let bytes = 0;
    let inodes = 0;
    for (const it of items) {
      if (it.writable) {
        if (it.reuse) continue;
        if (it.artifact.kind === 'tree') {
          // A reflink copy may take nothing; a plain copy takes all of it: count all of it.
          bytes += it.artifact.size + it.artifact.files * block;
          inodes += it.artifact.files;
          continue;
        }
        const st = await lstat(this.cache.objectPath(it.artifact.digest));
        bytes += st.blocks * 512;
        inodes++;
        continue;
      }
      // One device check per item: all of an artifact's files live in one place in the cache.
      const src = await lstat(
        it.artifact.kind === 'tree'
          ? this.cache.treePath(it.artifact.digest)
          : this.cache.objectPath(it.artifact.digest),
      ).catch(ifMissing(undefined));
      const sameDevice = !!src && src.dev === rootDev;
      for (const e of it.entries) {
        inodes++;
        if (e.type === 'dir') bytes += block;
        if (e.type !== 'file') continue;
        const p = prevFiles.get(e.path);
        if (p && sameFile(p, e)) continue;
        if (!sameDevice || !linkable(it, e)) bytes += blocks(e.size ?? 0);
      }
    }
    return { bytes, inodes };
  }

  async stage(
    host: string,
    id: string,
    items: PlannedItem[],
    links: PublishLink[],
    digest: string,
    prev: ReleaseManifest | undefined,
    damaged?: Set<string>,
  ): Promise<StageResult> {
    const s: Staging = {
      dir: this.rel(host, `.staging-${id}-${process.pid}-${randomBytes(3).toString('hex')}`),
      prevDir: prev ? this.rel(host, prev.id) : undefined,
      // A damaged live file is never linked again: it is the inode that was written to.
      prevFiles: new Map((prev?.entries ?? []).filter((e) => !damaged?.has(e.path)).map((e) => [e.path, e])),
      result: { bytesWritten: 0, linked: 0, copied: 0 },
      rows: {},
      entries: [],
      made: new Set<string>(),
    };
    const released: ReleaseItem[] = [];
    // Every directory written into outside the staging dir: checked (and made) before anything is written.
    await safeDir(this.root, `.releases/${host}`);
    for (const l of links) await safeDir(this.root, dirname(l.path));
    await mkdir(s.dir);
    try {
      for (const it of items) {
        if (it.writable) {
          const disk = await this.placeDisk(host, it, s.dir, s.result);
          released.push({ path: it.path, artifact: it.artifact, writable: true, disk });
          s.entries.push({
            path: it.path,
            type: 'symlink',
            mode: 0o777,
            uid: 0,
            gid: 0,
            target: await readlink(join(s.dir, it.path)),
          });
          continue;
        }
        released.push({ path: it.path, artifact: it.artifact, writable: false });
        await stageItem(s, it);
      }
      const createdAt = new Date().toISOString();
      const manifest: ReleaseManifest = {
        ...{ v: 1, host, target: this.name, id, digest, createdAt },
        ...{ items: released, links, entries: s.entries, rows: s.rows },
      };
      await writeFile(join(s.dir, MANIFEST_NAME), JSON.stringify(manifest));
      syncFileSystem(s.dir);
      await rename(s.dir, this.rel(host, id));
      await fsyncDir(this.rel(host));
      // What was just written is what a read would parse: prune and rollback need not parse it again.
      const path = this.rel(host, id, MANIFEST_NAME);
      const sig = await fileSig(path);
      if (sig) this.keepParsed(path, sig, manifest);
      return s.result;
    } catch (e) {
      await rm(s.dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** A writable disk: the live one again if its source did not change, else a private copy. */
  private async placeDisk(host: string, it: PlannedItem, staging: string, result: StageResult) {
    const disks = join(this.root, '.disks', host);
    await safeDir(this.root, `.disks/${host}`);
    let diskId = it.reuse?.id;
    if (!diskId) {
      diskId =
        `${it.path.replace(/[^A-Za-z0-9._-]/g, '_')}-` + `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
      const tmp = join(disks, `.tmp-${diskId}`);
      try {
        if (it.artifact.kind === 'tree') {
          // A read-write root: a private copy of the whole tree.
          const manifest = await this.cache.manifest(it.artifact.digest);
          await copyTree(this.cache.treePath(it.artifact.digest), tmp, undefined, manifest);
        } else {
          await copySparseFile(this.cache.objectPath(it.artifact.digest), tmp);
          await chmod(tmp, it.artifact.mode | 0o200);
        }
        syncFileSystem(tmp);
        await rename(tmp, join(disks, diskId));
      } catch (e) {
        await rm(tmp, { recursive: true, force: true });
        throw e;
      }
      result.bytesWritten +=
        it.artifact.kind === 'tree' ? it.artifact.size : (await lstat(join(disks, diskId))).blocks * 512;
    }
    await makeDiskPrivate(this.name, disks, join(disks, diskId), it.artifact.kind);
    const dest = join(staging, it.path);
    await mkdir(dirname(dest), { recursive: true });
    // Relative to where the link will live after the rename: .releases/<host>/<id>/<path>
    const live = join(this.rel(host, 'ID'), it.path);
    await symlink(relative(dirname(live), join(disks, diskId)), dest);
    return { id: diskId, sig: it.reuse?.sig ?? (await diskSig(join(disks, diskId))), source: it.artifact.digest };
  }

  async check(host: string, id: string, depth: CheckDepth): Promise<Damage[]> {
    const m = await this.manifest(host, id);
    if (!m) return [{ path: MANIFEST_NAME, problem: 'the release manifest is missing or unreadable' }];
    return checkRelease(this.rel(host, id), m, depth);
  }

  async diskSig(host: string, diskId: string): Promise<DiskSig | undefined> {
    return diskSig(join(this.root, '.disks', host, diskId)).catch(ifMissing(undefined));
  }

  releasePath(host: string, id: string): string {
    return this.rel(host, id);
  }

  async switch(host: string, id: string): Promise<void> {
    await replaceSymlink(
      join('.releases', host, id),
      join(this.root, host),
      join(this.root, `.${host}.switch-${process.pid}-${randomBytes(3).toString('hex')}`),
    );
    await fsyncDir(this.root);
    await safeDir(this.root, `.releases/${host}`);
    const { history } = await this.state(host);
    await writeFileAtomic(this.rel(host, 'history.json'), JSON.stringify([...history.filter((h) => h !== id), id]));
  }

  async ensureLinks(host: string, links: PublishLink[]): Promise<void> {
    for (const l of links) {
      const at = join(this.root, l.path);
      const want = relative(dirname(at), join(this.root, host, l.to));
      const now = await readlink(at).catch((e: unknown) => {
        if (isMissing(e) || isErrno(e, 'EINVAL')) return undefined; // none yet, or not a link: replaced
        throw e;
      });
      if (now === want) continue;
      await safeDir(this.root, dirname(l.path));
      await replaceSymlink(want, at, `${at}.tmp-${process.pid}`);
    }
  }

  async remove(host: string, ids: string[]): Promise<string[]> {
    if (!(await safeDir(this.root, `.releases/${host}`, false))) return [];
    const removed: string[] = [];
    // Rename first, so a crash halfway through never leaves a half-deleted release under its id.
    for (const id of ids) if (await discardAs(this.rel(host, id), this.rel(host, deletingName(id)))) removed.push(id);
    return removed;
  }

  async removeDisk(host: string, diskId: string): Promise<void> {
    if (!(await safeDir(this.root, `.disks/${host}`, false))) return;
    await discardAs(join(this.root, '.disks', host, diskId), join(this.root, '.disks', host, deletingName(diskId)));
  }

  async disks(host: string): Promise<string[]> {
    if (!(await safeDir(this.root, `.disks/${host}`, false))) return [];
    return (await listDir(join(this.root, '.disks', host))).filter((n) => !n.startsWith('.tmp-'));
  }

  /**
   * Leftovers of interrupted publishes (staging dirs, temp files and links, half-copied disks) of
   * this host, and of interrupted deletions of any host: nothing reads a .deleting- name, so it
   * may go whoever holds which lock.
   */
  async cleanLeftovers(host: string): Promise<number> {
    let n = 0;
    for (const area of ['.releases', '.disks']) {
      if (!(await safeDir(this.root, area, false))) continue;
      for (const h of await listDir(join(this.root, area))) {
        if (!(await safeDir(this.root, `${area}/${h}`, false))) continue;
        for (const name of await listDir(join(this.root, area, h)))
          if (name.startsWith('.deleting-')) {
            await rm(join(this.root, area, h, name), { recursive: true, force: true });
            n++;
          }
      }
    }
    // .tmp-: writeFileAtomic's temp name, left by a kill between its write and its rename (history.json).
    for (const name of await listDir(this.rel(host)))
      if (name.startsWith('.staging-') || name.startsWith('.tmp-')) {
        await rm(this.rel(host, name), { recursive: true, force: true });
        n++;
      }
    for (const name of await listDir(join(this.root, '.disks', host)))
      if (name.startsWith('.tmp-')) {
        await rm(join(this.root, '.disks', host, name), { recursive: true, force: true });
        n++;
      }
    for (const name of await listDir(this.root))
      if (name.startsWith(`.${host}.switch-`)) {
        await rm(join(this.root, name), { force: true });
        n++;
      }
    return n;
  }

  describe(): string {
    return this.root;
  }
}

/** A regular file's signature (base/file-signature.ts): any rewrite of it changes that. */
async function fileSig(path: string): Promise<string | undefined> {
  const st = await stat(path, { bigint: true }).catch(ifMissing(undefined));
  return st?.isFile() ? statSignature(st) : undefined;
}

/** A JSON file's content, or `fallback` when it is absent or does not parse (written whole, so not ours). */
function parsedOr<T>(text: string | undefined, fallback: T): T {
  if (text === undefined) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

/**
 * A name beside the entry that no other deleter picks (an earlier kill's leftover never blocks
 * the rename), and that no reader takes for a release or disk.
 */
export function deletingName(id: string): string {
  return `.deleting-${id}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * Rename first, so a crash halfway through never leaves a half-deleted release or disk under its
 * id. False if it was already gone; any other failure throws.
 */
async function discardAs(path: string, doomed: string): Promise<boolean> {
  try {
    await rename(path, doomed);
  } catch (e) {
    if (isMissing(e)) return false;
    throw e;
  }
  await rm(doomed, { recursive: true, force: true });
  return true;
}

/** Points `at` to `target` with one rename of a fresh link (`tmp`), so readers never see it missing. */
async function replaceSymlink(target: string, at: string, tmp: string): Promise<void> {
  await rm(tmp, { force: true });
  await symlink(target, tmp);
  try {
    await rename(tmp, at);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * What a disk looks like now, to tell later whether the host wrote to it. An image: its inode,
 * size and mtime. A read-write root tree: a digest of every entry's path, inode, size and mtime
 * (lstat only), since a write deep inside changes nothing at its top.
 */
async function diskSig(path: string): Promise<DiskSig> {
  const st = await lstat(path, { bigint: true });
  if (!st.isDirectory()) return { ino: String(st.ino), size: String(st.size), mtimeNs: String(st.mtimeNs) };
  const h = createHash('sha256');
  let n = 0;
  const walk = async (dir: string, rel: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const s2 = await lstat(join(dir, name), { bigint: true });
      h.update(`${rel}${name}\0${s2.ino}\0${s2.size}\0${s2.mtimeNs}\n`);
      n++;
      if (s2.isDirectory()) await walk(join(dir, name), `${rel}${name}/`);
    }
  };
  await walk(path, '');
  return { ino: String(st.ino), size: String(n), mtimeNs: h.digest('hex') };
}
