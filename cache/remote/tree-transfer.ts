// A stored tree as registry blobs, and back: one deterministic tar stream per tree (the format
// netboot uses: see BENCHMARKS.md, remote-tree), or its manifest plus one blob per file (measured
// against it). Either way the result is checked by the tree's own digest when it is ingested.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lchown, mkdir, open, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Cache } from '../store.js';
import { devMajorMinor, type ManifestEntry } from '../tree.js';

const TAR_TYPE: Record<
  ManifestEntry['type'],
  'file' | 'directory' | 'symlink' | 'character-device' | 'block-device' | 'fifo'
> = {
  file: 'file',
  dir: 'directory',
  symlink: 'symlink',
  char: 'character-device',
  block: 'block-device',
  fifo: 'fifo',
};

/**
 * Writes the tree `digest` as a tar file at `dest`, entries in manifest order, with the
 * manifest's modes and owners and mtime 0: the same tree always gives the same bytes.
 * Returns the tar's sha256 and size.
 */
export async function packTree(cache: Cache, digest: string, dest: string): Promise<{ hex: string; size: number }> {
  const entries = await cache.manifest(digest);
  const root = cache.treePath(digest);
  const pack = tar.pack();
  const h = createHash('sha256');
  let size = 0;
  const out = createWriteStream(dest, { mode: 0o600 });
  const done = pipeline(
    pack,
    async function* (src) {
      for await (const c of src as AsyncIterable<Buffer>) {
        h.update(c);
        size += c.length;
        yield c;
      }
    },
    out,
  );
  for (const e of entries) {
    const [devmajor, devminor] = e.rdev !== undefined ? devMajorMinor(e.rdev) : [0, 0];
    const header = {
      name: e.path === '.' ? './' : e.type === 'dir' ? `${e.path}/` : e.path,
      type: TAR_TYPE[e.type],
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      mtime: new Date(0),
      size: e.type === 'file' ? e.size! : 0,
      linkname: e.target ?? '',
      uname: '',
      gname: '',
      devmajor,
      devminor,
    };
    if (e.type !== 'file') await entry(pack, header);
    else await entry(pack, header, createReadStream(join(root, e.path)));
  }
  pack.finalize();
  await done;
  return { hex: h.digest('hex'), size };
}

function entry(pack: tar.Pack, header: tar.Header, src?: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    if (src) src.on('error', reject).pipe(sink);
    else sink.end(Buffer.alloc(0));
  });
}

/** What `materialize` needs per entry: its manifest fields (a file's bytes come from `write`). */
export type Writer = (e: ManifestEntry, path: string) => Promise<void>;

/**
 * Builds a tree in `dir` (which must not exist) from entries in manifest order. Every parent
 * must be a directory made here: a hostile stream cannot write through a symlink it planted or
 * outside `dir`. Owners are restored (so pulling a root-owned tree needs root).
 */
export class Materializer {
  private readonly dirs = new Set<string>();
  private readonly modes: [string, number][] = [];
  constructor(readonly dir: string) {}

  async add(e: ManifestEntry, write: Writer): Promise<void> {
    const parts = e.path.split('/');
    if (e.path !== '.' && parts.some((p) => p === '' || p === '.' || p === '..'))
      throw new Error(`tree entry "${e.path}" is not a plain relative path`);
    const parent = parts.slice(0, -1).join('/') || '.';
    if (e.path !== '.' && !this.dirs.has(parent)) throw new Error(`tree entry "${e.path}" has no directory above it`);
    const path = e.path === '.' ? this.dir : join(this.dir, e.path);
    // The owner before the mode: chown clears a file's setuid and setgid bits (chage, wall and
    // ssh-agent in a Debian root are setgid to a group of their own).
    const own = async () => {
      if (e.uid !== process.getuid?.() || e.gid !== process.getgid?.()) await lchown(path, e.uid, e.gid);
    };
    if (e.type === 'dir') {
      await mkdir(path, { mode: 0o700 });
      await own();
      this.dirs.add(e.path);
      this.modes.push([path, e.mode]);
    } else if (e.type === 'file') {
      await write(e, path);
      await own();
      await chmod(path, e.mode);
    } else if (e.type === 'symlink') {
      await symlink(e.target ?? '', path);
      await own();
    } else {
      const [major, minor] = devMajorMinor(e.rdev ?? 0);
      const args =
        e.type === 'fifo' ? ['-m', '0600', path] : [path, e.type === 'char' ? 'c' : 'b', `${major}`, `${minor}`];
      const r = spawnSync(e.type === 'fifo' ? 'mkfifo' : 'mknod', args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`cannot make ${e.type} ${e.path}: ${r.stderr || r.error?.message}`);
      await own();
      await chmod(path, e.mode);
    }
  }

  /** Directory modes last, deepest first, so a read-only directory does not stop its own filling. */
  async finish(): Promise<void> {
    for (const [path, mode] of this.modes.reverse()) await chmod(path, mode);
  }
}

/** Unpacks a tar made by `packTree` into `dir`, taking each entry's fields from its header. */
export async function unpackTree(tarPath: string, dir: string): Promise<void> {
  const m = new Materializer(dir);
  const ex = tar.extract();
  const reading = pipeline(createReadStream(tarPath), ex);
  for await (const item of ex) {
    const h = item.header;
    const e = fromHeader(h);
    await m.add(e, async (_e, path) => {
      const fd = await open(path, 'wx', 0o600);
      try {
        for await (const c of item as AsyncIterable<Buffer>) await fd.write(c);
      } finally {
        await fd.close();
      }
    });
    item.resume();
  }
  await reading;
  await m.finish();
}

function fromHeader(h: tar.Header): ManifestEntry {
  const name = h.name.replace(/\/+$/, '');
  const type = (Object.entries(TAR_TYPE).find(([, t]) => t === h.type)?.[0] ?? 'bad') as ManifestEntry['type'];
  if ((type as string) === 'bad') throw new Error(`tar entry "${h.name}" has type ${h.type}`);
  const e: ManifestEntry = {
    path: name === '.' || name === '' ? '.' : name.replace(/^\.\//, ''),
    type,
    mode: h.mode! & 0o7777,
    uid: h.uid!,
    gid: h.gid!,
  };
  if (type === 'symlink') e.target = h.linkname ?? '';
  if (type === 'char' || type === 'block') e.rdev = encodeDev(h.devmajor ?? 0, h.devminor ?? 0);
  return e;
}

/** (major, minor) back to a Linux dev_t, as the kernel's new_encode_dev lays it out. */
function encodeDev(major: number, minor: number): number {
  return (minor & 0xff) + ((major & 0xfff) << 8) + ((minor & ~0xff) << 12) + (major & ~0xfff) * 2 ** 32;
}
