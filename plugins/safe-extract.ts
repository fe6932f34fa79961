import { execFile } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fchownSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Header } from 'tar-stream';
import { errors } from '../base/errors.js';

const run = promisify(execFile);

const refuse = (entry: string, why: string) => errors.unsafeArchiveEntry(entry, why);

/** A name made tree-relative ('' is the root), or a refusal: absolute names and '..' never pass. */
function clean(raw: string, entry: string, what: string): string {
  if (raw.includes('\0')) throw refuse(entry, `${what} contains a NUL byte`);
  if (raw.startsWith('/')) throw refuse(entry, `${what} is absolute`);
  const parts = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) throw refuse(entry, `${what} has a ".." component, which could leave the root`);
  return parts.join('/');
}

/** An entry's data, as tar-stream (streamx) hands it over. */
type Body = AsyncIterable<unknown>;

interface Meta {
  mode: number;
  uid: number;
  gid: number;
}

/**
 * Writes entries under `root` without ever following a link that is in the tree: every parent is
 * checked to be a real directory (lstat), final names are created with O_EXCL or after an
 * unlink, and hardlink targets must be entries already extracted. Only this step writes here.
 * File system calls are synchronous: each is one short system call, where the promise API costs
 * a thread-pool round trip per call; that halves the time of a 50,000-entry set (now as fast as
 * bsdtar), and the event loop still turns between entries while the archive streams in.
 */
export class SafeExtractor {
  /** Relative paths known to be real directories; a directory is never replaced, so this stays true. */
  private dirs = new Set<string>(['']);
  /** Directory modes and owners, applied last so a read-only directory does not stop its children. */
  private dirMeta = new Map<string, Meta>();
  count = 0;
  constructor(
    private readonly root: string,
    private readonly o: { devices: boolean; pkg: boolean },
  ) {}
  /** A package's metadata files (+MANIFEST, +COMPACT_MANIFEST), kept aside instead of extracted. */
  readonly metadata = new Map<string, Buffer>();

  async entry(h: Header, body: Body): Promise<void> {
    const entry = h.name;
    const pax = (h.pax ?? undefined) as Record<string, string> | undefined;
    // pkg(8) stores its metadata as top-level "+NAME" files and its payload under '/' (meaning
    // the root it is installed into): the metadata is skipped, the payload made tree-relative.
    if (this.o.pkg && /^(\.\/)?\+[A-Z_]+$/.test(h.name)) {
      if (!/MANIFEST$/.test(h.name) || (h.size ?? 0) > 16 << 20) return drain(body);
      const parts: Buffer[] = [];
      for await (const c of body) parts.push(c as Buffer);
      this.metadata.set(h.name.replace(/^\.\//, ''), Buffer.concat(parts));
      return;
    }
    const name = clean(this.o.pkg ? h.name.replace(/^\/+/, '') : h.name, entry, 'its name');
    if (pax && Object.keys(pax).some((k) => k.startsWith('GNU.sparse')))
      throw refuse(entry, 'sparse files are not supported');
    const meta: Meta = {
      mode: (h.mode ?? 0o644) & 0o7777,
      uid: paxInt(pax?.uid) ?? h.uid ?? 0,
      gid: paxInt(pax?.gid) ?? h.gid ?? 0,
    };
    this.count++;
    if (name === '') {
      // A package does not own the root it is installed into.
      if (this.o.pkg && h.type === 'directory') return drain(body);
      if (h.type !== 'directory') throw refuse(entry, 'the root of the tree can only be a directory');
      this.dirMeta.set('', meta);
      return drain(body);
    }
    await this.parents(name, entry);
    let target: string | undefined;
    if (h.type === 'link') target = await this.linkTarget(h.linkname ?? '', entry);
    const abs = join(this.root, name);
    const existing = lstatQuiet(abs);
    if (existing?.isDirectory()) {
      if (h.type !== 'directory') throw refuse(entry, 'it would replace a directory');
      this.dirMeta.set(name, meta);
      return drain(body);
    }
    // A later entry replaces an earlier one; unlinking first means never writing through a symlink or a hardlink.
    if (existing) unlinkSync(abs);
    switch (h.type) {
      case 'directory':
        mkdirSync(abs, 0o700);
        this.dirs.add(name);
        this.dirMeta.set(name, meta);
        return drain(body);
      case 'file':
      case 'contiguous-file':
        return writeFile(abs, body, meta, entry);
      case 'symlink':
        if (!h.linkname) throw refuse(entry, 'a symlink without a target');
        symlinkSync(h.linkname, abs);
        owners(abs, meta, entry);
        return drain(body);
      case 'link':
        linkSync(join(this.root, target!), abs);
        return drain(body);
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        if (!this.o.devices)
          throw refuse(entry, `a ${h.type === 'fifo' ? 'FIFO' : 'device node'} (set the devices param to allow it)`);
        const kind =
          h.type === 'fifo'
            ? ['p']
            : [h.type === 'block-device' ? 'b' : 'c', String(h.devmajor ?? 0), String(h.devminor ?? 0)];
        await run('mknod', [abs, ...kind]);
        owners(abs, meta, entry);
        chmodSync(abs, meta.mode);
        return drain(body);
      }
      default:
        throw refuse(entry, `unsupported entry type ${h.type ?? 'unknown'}`);
    }
  }

  /** Directory modes and owners, deepest first. */
  async finish(): Promise<void> {
    const dirs = [...this.dirMeta.entries()].sort(
      ([a], [b]) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1),
    );
    for (const [name, meta] of dirs) {
      const abs = name ? join(this.root, name) : this.root;
      owners(abs, meta, name || '.');
      chmodSync(abs, meta.mode);
    }
  }

  /**
   * Every parent of `name` must be a real directory of the tree. For an entry's own name, missing
   * ones are made (0755, root, as tar does); for a hardlink target (`subject`) they must exist.
   */
  private async parents(name: string, entry: string, subject?: string): Promise<void> {
    const parts = name.split('/');
    parts.pop();
    let rel = '';
    for (const part of parts) {
      rel = rel ? `${rel}/${part}` : part;
      if (this.dirs.has(rel)) continue;
      const abs = join(this.root, rel);
      const st = lstatQuiet(abs);
      if (st?.isSymbolicLink())
        throw refuse(
          entry,
          `${subject ?? 'it'} goes through "${rel}", a symlink of the archive (to "${readlinkSync(abs)}"), ` +
            'and could leave the root',
        );
      if (st && !st.isDirectory())
        throw refuse(entry, `${subject ?? 'it'} goes through "${rel}", which is not a directory`);
      if (!st) {
        if (subject) throw refuse(entry, `${subject} is not in the archive (no directory "${rel}")`);
        mkdirSync(abs);
        chmodSync(abs, 0o755);
      }
      this.dirs.add(rel);
    }
  }

  /** A hardlink may only point at a file or symlink extracted before it, inside the tree. */
  private async linkTarget(raw: string, entry: string): Promise<string> {
    const target = clean(this.o.pkg ? raw.replace(/^\/+/, '') : raw, entry, `its hardlink target "${raw}"`);
    if (target === '') throw refuse(entry, 'a hardlink to the root');
    await this.parents(target, entry, `its hardlink target "${raw}"`);
    const st = lstatQuiet(join(this.root, target));
    // link(2) does not follow a symlink, so a hardlink to one stays inside the tree.
    if (!st || !(st.isFile() || st.isSymbolicLink()))
      throw refuse(entry, `its hardlink target "${raw}" is not a file extracted before it`);
    return target;
  }
}

async function writeFile(abs: string, body: Body, meta: Meta, entry: string): Promise<void> {
  // O_EXCL: never opens through whatever could be at this name.
  const fd = openSync(abs, 'wx', 0o600);
  try {
    for await (const chunk of body) {
      const buf = chunk as Uint8Array;
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
    }
    try {
      fchownSync(fd, meta.uid, meta.gid);
    } catch (e) {
      throw ownerError(entry, meta, e);
    }
    // After chown, which clears set-uid bits.
    fchmodSync(fd, meta.mode);
  } finally {
    closeSync(fd);
  }
}

function owners(abs: string, meta: Meta, entry: string): void {
  try {
    lchownSync(abs, meta.uid, meta.gid);
  } catch (e) {
    throw ownerError(entry, meta, e);
  }
}

function ownerError(what: string, meta: Meta, e: unknown): Error {
  if ((e as NodeJS.ErrnoException).code !== 'EPERM') return e as Error;
  return errors.badArchive(`${what}: cannot set owner ${meta.uid}:${meta.gid} (keeping owners needs root)`);
}

function lstatQuiet(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

function paxInt(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** An entry's data must be read to reach the next header. */
async function drain(body: Body): Promise<void> {
  for await (const _ of body);
}
