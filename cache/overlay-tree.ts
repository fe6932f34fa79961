import { execFile } from 'node:child_process';
import { chmod, lchown, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { unoctal } from './octal-escape.js';
import { digestTree, type ManifestEntry } from './tree.js';

const run = promisify(execFile);

/** A tree made from a stored tree and what a step changed on an overlay of it. */
export interface DerivedTree {
  /** The whole tree's manifest entries, as digestTree would give them for `dest`. */
  entries: ManifestEntry[];
  /** Paths of regular files whose content came from the upper dir: the only ones read. */
  fresh: Set<string>;
  /** Entries the upper dir held (changed, added, or removed: a whiteout). */
  changed: number;
}

const OPAQUE = 'trusted.overlay.opaque';

/**
 * Builds in `dest` (an empty directory on the cache's file system) the tree an overlay showed:
 * `lower`, a stored tree with its manifest, under `upper`, the overlay's upper dir after it was
 * unmounted. Unchanged entries are hard links to the stored tree's files, which nothing wrote:
 * every write through the overlay went to the upper dir. Changed ones are moved in from the upper
 * dir, whose own digest is all that is read. Whiteouts (0:0 char devices) remove, opaque
 * directories hide what the lower dir held, overlayfs's own xattrs are not carried out.
 *
 * The step saw the stored modes, which lack the write bits, and a file it rewrote from a stored
 * one (written in place, `sed -i`, useradd's /etc/passwd, `cp -p`, `mv`) carries that mode: see
 * trueModes. overlayfs breaks a hard link on copy-up, so a write in place to one name of a stored
 * hard link changes that name only (dpkg replaces files by rename, which a copy does the same way).
 */
export async function deriveTree(
  lower: string,
  lowerEntries: ManifestEntry[],
  upper: string,
  dest: string,
): Promise<DerivedTree> {
  const up = await digestTree(upper);
  const attrs = await overlayAttrs(upper);
  await run('cp', ['-al', `${lower}/.`, dest], { maxBuffer: 1 << 24 });
  const tree = new Map(lowerEntries.map((e) => [e.path, e]));
  const byDigest: Sources = new Map();
  for (const e of lowerEntries) if (e.type === 'file') addSource(byDigest, e.digest!, e.mode);
  const fresh = new Set<string>();
  const rewritten: [ManifestEntry, ManifestEntry | undefined][] = [];
  const carried = new Map<string, string[]>();
  // Sorted by path: a directory comes before everything in it.
  for (const e of up.entries) {
    const at = join(dest, e.path);
    const old = tree.get(e.path);
    const own = attrs.get(e.path);
    if (e.type === 'char' && e.rdev === 0) {
      if (old?.type === 'dir') dropUnder(tree, e.path);
      tree.delete(e.path);
      await rm(at, { recursive: true, force: true });
      continue;
    }
    if (e.type === 'dir') {
      if (old?.type === 'dir') {
        if (own?.get(OPAQUE) === 'y') {
          dropUnder(tree, e.path);
          for (const name of await readdir(at)) await rm(join(at, name), { recursive: true, force: true });
        }
      } else {
        if (old) await rm(at, { recursive: true, force: true });
        await mkdir(at);
      }
      await lchown(at, e.uid, e.gid);
      await chmod(at, e.mode);
      tree.set(e.path, e);
      continue;
    }
    if (old) {
      if (old.type === 'dir') dropUnder(tree, e.path);
      await rm(at, { recursive: true, force: true });
    }
    await rename(join(upper, e.path), at);
    if (e.type === 'file') {
      rewritten.push([e, old]);
      fresh.add(e.path);
    }
    for (const name of own?.keys() ?? []) (carried.get(name) ?? carried.set(name, []).get(name)!).push(at);
    tree.set(e.path, e);
  }
  for (const [e, mode] of trueModes(rewritten, byDigest)) await chmod(join(dest, e.path), (e.mode = mode));
  for (const [name, paths] of carried)
    for (let i = 0; i < paths.length; i += 200) await run('setfattr', ['-h', '-x', name, ...paths.slice(i, i + 200)]);
  return { entries: [...tree.values()], fresh, changed: up.entries.length - 1 };
}

/** Content digest -> stored mode -> the true mode of a stored file with that content and stored mode. */
type Sources = Map<string, Map<number, number>>;

function addSource(sources: Sources, digest: string, mode: number): void {
  if (!(mode & 0o222)) return;
  const modes = sources.get(digest) ?? sources.set(digest, new Map()).get(digest)!;
  if (!modes.has(mode & ~0o222)) modes.set(mode & ~0o222, mode);
}

/**
 * The files the step left whose mode must change, and to what. One with exactly a stored mode (a
 * true mode less its write bits) got it from a stored file: the one at its path (rewritten there:
 * `sed -i`, useradd's /etc/passwd), else one with its content (copied or moved, also after a
 * rewrite: `cp -p`, shadow's /etc/passwd- backup); it gets that file's true mode back. A step that
 * deliberately gave such a file exactly that mode gets the true mode too: the one case this
 * cannot tell apart.
 */
function trueModes(files: [ManifestEntry, ManifestEntry | undefined][], sources: Sources): [ManifestEntry, number][] {
  const out: [ManifestEntry, number][] = [];
  const rest: ManifestEntry[] = [];
  for (const [e, old] of files) {
    const mode =
      e.mode & 0o222
        ? e.mode
        : old?.type === 'file' && old.mode & 0o222 && e.mode === (old.mode & ~0o222)
          ? old.mode
          : undefined;
    if (mode === undefined) rest.push(e);
    else {
      if (mode !== e.mode) out.push([e, mode]);
      addSource(sources, e.digest!, mode);
    }
  }
  for (const e of rest) {
    const mode = sources.get(e.digest!)?.get(e.mode);
    if (mode !== undefined) out.push([e, mode]);
  }
  return out;
}

/** Removes every entry below a directory (not the directory's own). */
function dropUnder(tree: Map<string, ManifestEntry>, dir: string): void {
  const prefix = dir === '.' ? '' : `${dir}/`;
  for (const p of tree.keys()) if (p !== '.' && p.startsWith(prefix)) tree.delete(p);
}

/** overlayfs's xattrs (trusted.overlay.*) in the upper dir: relative path -> name -> value. */
async function overlayAttrs(upper: string): Promise<Map<string, Map<string, string>>> {
  // getfattr exits 1 when it found none and says nothing else: only its output counts.
  const { stdout } = await run('getfattr', ['-R', '-P', '-h', '-d', '-m', '^trusted\\.overlay\\.', '-e', 'text', '.'], {
    cwd: upper,
    maxBuffer: 1 << 26,
  }).catch((e: { stdout?: string; stderr?: string; code?: number }) => {
    if (e.code === 1 && !e.stderr?.trim()) return { stdout: e.stdout ?? '' };
    throw e;
  });
  const out = new Map<string, Map<string, string>>();
  let cur: Map<string, string> | undefined;
  for (const line of stdout.split('\n')) {
    const file = line.match(/^# file: (.*)$/);
    if (file) {
      const rel = unoctal(file[1]).replace(/^\.\/?/, '') || '.';
      out.set(rel, (cur = new Map()));
    } else if (cur && line) {
      const eq = line.indexOf('=');
      const name = eq < 0 ? line : line.slice(0, eq);
      cur.set(name, eq < 0 ? '' : line.slice(eq + 1).replace(/^"(.*)"$/, '$1'));
    }
  }
  return out;
}
