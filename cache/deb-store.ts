import { chmod, copyFile, link, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errnoOf, ifMissing } from '../base/errno.js';
import { hashFile } from './tree.js';

/** What one step took from the store and what it had to fetch, for its log and the bench. */
export interface DownloadTally {
  reused: number;
  reusedBytes: number;
  fetched: number;
  fetchedBytes: number;
}

/**
 * Downloaded packages by content: `debs/ab/<sha256>`, where the sha256 is the one the archive's
 * index (Packages) gives for the file. Shared by every step and host of a cache, so a .deb is
 * fetched once. A file gets in only if its content hashes to its name, and is hashed again each
 * time it is handed out: a damaged one is removed and the step downloads it afresh. Nothing here
 * enters a key: a step given a stored file gets the very bytes it would have downloaded.
 */
export class DebStore {
  constructor(readonly dir: string) {}

  path(sha256: string): string {
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  /** Whether the store holds an entry by this name (its content is checked when it is handed out). */
  has(sha256: string): Promise<boolean> {
    return lstat(this.path(sha256)).then(
      (st) => isSha256(sha256) && st.isFile(),
      () => false,
    );
  }

  /**
   * Puts the stored file with this sha256 at `dest` (a hard link, a copy across file systems).
   * False when the store lacks it or its content no longer matches (then it is removed).
   */
  async linkOut(sha256: string, dest: string): Promise<boolean> {
    if (!isSha256(sha256)) return false;
    const src = this.path(sha256);
    const st = await lstat(src).catch(ifMissing(undefined));
    if (!st?.isFile()) return false;
    if ((await hashFile(src, st.size)) !== sha256) {
      await rm(src, { force: true });
      return false;
    }
    await rm(dest, { force: true });
    await link(src, dest).catch(async (e: unknown) => {
      if (errnoOf(e) !== 'EXDEV' && errnoOf(e) !== 'EPERM') throw e;
      await copyFile(src, dest);
    });
    return true;
  }

  /**
   * Adds a downloaded file that the index says has this sha256. Refused (false) when its
   * content does not hash to it; an entry already there is kept. Written under a temp name and
   * renamed, read-only: a reader sees no entry or a whole one.
   */
  async add(file: string, sha256: string): Promise<boolean> {
    if (!isSha256(sha256)) return false;
    const st = await lstat(file).catch(ifMissing(undefined));
    if (!st?.isFile() || (await hashFile(file, st.size)) !== sha256) return false;
    const dest = this.path(sha256);
    if (
      await lstat(dest).then(
        () => true,
        () => false,
      )
    )
      return true;
    await mkdir(dirname(dest), { recursive: true });
    const tmp = `${dest}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`;
    try {
      // A link where it can (the caller's file is a download about to be cleaned away), else a copy.
      await link(file, tmp).catch(async (e: unknown) => {
        if (errnoOf(e) !== 'EXDEV' && errnoOf(e) !== 'EPERM') throw e;
        await copyFile(file, tmp);
      });
      await chmod(tmp, 0o444);
      await rename(tmp, dest);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return true;
  }

  /**
   * apt's last index files (its `/var/lib/apt/lists` names: InRelease, Packages, Translation),
   * each name with the sha256 of its stored content: `debs/lists/<name>` holds the hex. A step
   * links them in before `apt-get update`, so apt answers "Hit" for an unchanged suite instead of
   * downloading its indexes again; linkOut checks each one's content first.
   */
  async lists(): Promise<Map<string, string>> {
    const dir = join(this.dir, 'lists');
    const out = new Map<string, string>();
    for (const name of await readdir(dir).catch(ifMissing([] as string[]))) {
      if (!isListName(name)) continue;
      const sha = (await readFile(join(dir, name), 'utf8').catch(ifMissing(''))).trim();
      if (isSha256(sha)) out.set(name, sha);
    }
    return out;
  }

  /** Keeps an index file apt just fetched (added by its own sha256) as the latest of its name. */
  async keepList(name: string, file: string): Promise<boolean> {
    if (!isListName(name)) return false;
    const st = await lstat(file).catch(ifMissing(undefined));
    if (!st?.isFile()) return false;
    const sha = await hashFile(file, st.size);
    if (!(await this.add(file, sha))) return false;
    const dir = join(this.dir, 'lists');
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${name}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`);
    await writeFile(tmp, `${sha}\n`);
    await rename(tmp, join(dir, name));
    return true;
  }
}

/** apt's list file names: its URI quoting (`%xx`), `_` for `/`; never a dot file, a temp or a path. */
export const isListName = (s: string) => /^[A-Za-z0-9][A-Za-z0-9._:%+~-]*$/.test(s) && !s.endsWith('.tmp');

const isSha256 = (s: string) => /^[0-9a-f]{64}$/.test(s);
