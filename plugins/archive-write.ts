import { closeSync, createReadStream, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { errors } from '../base/errors.js';
import { devMajorMinor } from '../cache/tree.js';
import type { TreeEntry } from '../core/plugin.js';

export type CpioFormat = 'newc' | 'odc';
export interface ArchiveOptions {
  /** Prepended to every name: '' (as is), './', or a directory such as 'etc/'. */
  prefix: string;
  /** Every mtime is this (SOURCE_DATE_EPOCH): the manifest carries no times. */
  mtime: number;
  gzip: boolean;
}

const LIMIT = 2 ** 32 - 1;
const S_IF = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
} as const;

export function archiveName(path: string, prefix: string): string {
  if (path === '.') return prefix === '' ? '.' : prefix === './' ? '.' : prefix.replace(/\/$/, '');
  return prefix + path;
}

function checkEntry(e: TreeEntry, name: string, format: string) {
  if (!/^[\x20-\x7e]+$/.test(name))
    throw errors.badValue(name, `only printable ASCII names can go into a ${format} archive here`);
  if ((e.size ?? 0) > LIMIT) throw errors.archiveTooLarge(name, e.size!, format);
  if (format === 'odc' && (e.uid > 0o777777 || e.gid > 0o777777))
    throw errors.badValue(name, `uid/gid ${e.uid}/${e.gid} does not fit in odc`);
}

interface EntryPack {
  entry(header: Record<string, unknown>, cb: (err?: Error | null) => void): Writable;
  entry(header: Record<string, unknown>, data: Buffer, cb: (err?: Error | null) => void): Writable;
}

/**
 * Files up to this size are read whole, with one synchronous read, and handed to the packer as a
 * buffer: a read stream and a pipeline per file cost ~0.5 ms each, which made a 30,000-file
 * rootfs pack 3 to 5 times slower than GNU cpio or bsdtar. Larger files still stream.
 */
const WHOLE_FILE = 8 << 20;
/** How long the entry loop runs without yielding to the event loop (progress, other steps). */
const SLICE_MS = 20;
const OUT_CHUNK = 1 << 20;

/** A file's bytes, checked against the manifest's size: the archive header already says it. */
function readWhole(path: string, size: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    // One byte more than expected, so a file that grew is noticed rather than cut short.
    const buf = Buffer.allocUnsafe(size + 1);
    let n = 0;
    for (let r: number; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += r;
    if (n !== size)
      throw new Error(
        `${path}: size changed while archiving (${size} bytes in the manifest, ${n === size + 1 ? 'more' : n} now)`,
      );
    return buf.subarray(0, size);
  } finally {
    closeSync(fd);
  }
}

/** One entry; a large file's bytes are piped with stream errors (a file shrinking under us) reported, not thrown. */
async function addEntry(
  pack: EntryPack,
  header: Record<string, unknown>,
  file: string | undefined,
  size: number,
): Promise<void> {
  if (!file || size <= WHOLE_FILE) {
    const data = file ? readWhole(file, size) : undefined;
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (data) pack.entry(header, data, cb);
      else pack.entry(header, cb);
    });
    return;
  }
  let sink!: Writable;
  const written = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
  });
  await pipeline(createReadStream(file), sink);
  await written;
}

/**
 * Drains a packer into `dest` (through gzip if asked) with synchronous writes of large chunks,
 * pausing the packer while gzip catches up. `add` adds the entries; the archive is finished after.
 */
async function packTo(
  pack: Readable & { finalize(): void },
  dest: string,
  gzip: boolean,
  add: (yieldNow: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const fd = openSync(dest, 'w');
  const buf = Buffer.allocUnsafe(OUT_CHUNK);
  let len = 0;
  const flush = () => {
    for (let off = 0; off < len; ) off += writeSync(fd, buf, off, len - off);
    len = 0;
  };
  const toFile = (c: Buffer) => {
    if (len + c.length > buf.length) flush();
    if (c.length >= buf.length) for (let off = 0; off < c.length; ) off += writeSync(fd, c, off, c.length - off);
    else len += c.copy(buf, len);
  };
  const gz = gzip ? createGzip({ level: 9 }) : undefined;
  let failed: Error | undefined;
  let backlog: Promise<void> | undefined;
  const fail = (e: Error) => (failed ??= e);
  // Called from stream events, where a throw (ENOSPC) would be uncaught: kept, and thrown from the entry loop.
  const sink = (c: Buffer) => {
    if (failed) return;
    try {
      toFile(c);
    } catch (e) {
      fail(e as Error);
    }
  };
  try {
    gz?.on('data', sink).on('error', fail);
    const ended = new Promise<void>((resolve, reject) => pack.on('end', resolve).on('error', reject));
    ended.catch(() => {});
    pack.on('data', (c: Buffer) => {
      if (!gz) return sink(c);
      if (!gz.write(c) && !backlog) {
        pack.pause();
        // An error ends the wait too: no drain comes after one.
        backlog = new Promise<void>((r) => {
          const done = () => {
            gz.off('drain', done).off('error', done);
            r();
          };
          gz.on('drain', done).on('error', done);
        }).then(() => {
          backlog = undefined;
          pack.resume();
        });
      }
    });
    let yieldAt = performance.now() + SLICE_MS;
    await add(async () => {
      if (failed) throw failed;
      if (backlog) await backlog;
      else if (performance.now() >= yieldAt) await new Promise((r) => setImmediate(r));
      yieldAt = performance.now() + SLICE_MS;
    });
    if (failed) throw failed;
    pack.finalize();
    await ended;
    if (gz) await new Promise<void>((resolve, reject) => gz.on('end', resolve).on('error', reject).end());
    if (failed) throw failed;
    flush();
  } finally {
    gz?.destroy();
    closeSync(fd);
  }
}

/**
 * A cpio archive of a tree, from its manifest: entries sorted by name, owners and modes as
 * recorded, inodes numbered 1.. in order, every mtime the same. Written with cpio-stream.
 */
export async function writeCpio(
  root: string,
  entries: TreeEntry[],
  dest: string,
  format: CpioFormat,
  o: ArchiveOptions,
): Promise<void> {
  const { default: cpio } = await import('cpio-stream');
  const pack = cpio.pack({ format });
  const list = entries
    .map((e) => ({ e, name: archiveName(e.path, o.prefix) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let ino = 1;
  // Checked before the file is created: a refused name leaves no half-written archive behind.
  for (const { e, name } of list) checkEntry(e, name, format);
  await packTo(pack, dest, o.gzip, async (yieldNow) => {
    for (const { e, name } of list) {
      const [rmaj, rmin] = e.rdev ? devMajorMinor(e.rdev) : [0, 0];
      const header: Record<string, unknown> = {
        name,
        ino: ino++,
        mode: S_IF[e.type] | e.mode,
        uid: e.uid,
        gid: e.gid,
        nlink: e.type === 'dir' ? 2 : 1,
        mtime: new Date(o.mtime * 1000),
        dev: 0,
        devmajor: 0,
        devminor: 0,
        rdevmajor: rmaj,
        rdevminor: rmin,
        rdev: format === 'odc' ? (rmaj << 8) | rmin : 0,
        size: e.type === 'file' ? e.size : 0,
      };
      if (e.type === 'symlink') header.linkname = e.target;
      await addEntry(
        pack as unknown as EntryPack,
        header,
        e.type === 'file' ? join(root, e.path) : undefined,
        e.size ?? 0,
      );
      await yieldNow();
    }
  });
}

/** A ustar/pax archive of a tree, with the same rules as writeCpio. Written with tar-stream. */
export async function writeTar(root: string, entries: TreeEntry[], dest: string, o: ArchiveOptions): Promise<void> {
  const tar = await import('tar-stream');
  const pack = tar.pack();
  const list = entries
    .map((e) => ({ e, name: archiveName(e.path, o.prefix) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const type = {
    file: 'file',
    dir: 'directory',
    symlink: 'symlink',
    char: 'character-device',
    block: 'block-device',
    fifo: 'fifo',
  } as const;
  await packTo(pack as unknown as Readable & { finalize(): void }, dest, o.gzip, async (yieldNow) => {
    for (const { e, name } of list) {
      const [devmajor, devminor] = e.rdev ? devMajorMinor(e.rdev) : [0, 0];
      // ustar holds ids up to 0o7777777 in its fields; beyond that a pax record carries them.
      const big = e.uid > 0o777777 || e.gid > 0o777777;
      const header = {
        ...(big ? { pax: { uid: String(e.uid), gid: String(e.gid) } } : {}),
        name: e.type === 'dir' ? name.replace(/\/?$/, '/') : name,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        uname: '',
        gname: '',
        mtime: new Date(o.mtime * 1000),
        type: type[e.type],
        size: e.type === 'file' ? e.size : 0,
        linkname: e.target,
        devmajor,
        devminor,
      };
      await addEntry(
        pack as unknown as EntryPack,
        header,
        e.type === 'file' ? join(root, e.path) : undefined,
        e.size ?? 0,
      );
      await yieldNow();
    }
  });
}
