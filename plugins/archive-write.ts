import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Readable, Writable } from 'node:stream';
import { errors } from '../core/errors.js';
import type { TreeEntry } from '../core/plugin.js';
import { devMajorMinor } from '../cache/tree.js';

export type CpioFormat = 'newc' | 'odc';
export interface ArchiveOptions {
  /** Prepended to every name: '' (as is), './', or a directory such as 'etc/'. */
  prefix: string;
  /** Every mtime is this (SOURCE_DATE_EPOCH): the manifest carries no times. */
  mtime: number;
  gzip: boolean;
}

const LIMIT = 2 ** 32 - 1;
const S_IF = { file: 0o100000, dir: 0o040000, symlink: 0o120000, char: 0o020000, block: 0o060000, fifo: 0o010000 } as const;

export function archiveName(path: string, prefix: string): string {
  if (path === '.') return prefix === '' ? '.' : prefix === './' ? '.' : prefix.replace(/\/$/, '');
  return prefix + path;
}

function checkEntry(e: TreeEntry, name: string, format: string) {
  if (!/^[\x20-\x7e]+$/.test(name)) throw errors.badValue(name, `only printable ASCII names can go into a ${format} archive here`);
  if ((e.size ?? 0) > LIMIT) throw errors.archiveTooLarge(name, e.size!, format);
  if (format === 'odc' && (e.uid > 0o777777 || e.gid > 0o777777)) throw errors.badValue(name, `uid/gid ${e.uid}/${e.gid} does not fit in odc`);
}


interface EntryPack {
  entry(header: Record<string, unknown>, cb: (err?: Error | null) => void): Writable;
}

/** One entry; a file's bytes are piped with stream errors (a file shrinking under us) reported, not thrown. */
async function addEntry(pack: EntryPack, header: Record<string, unknown>, file: string | undefined): Promise<void> {
  let sink!: Writable;
  const written = new Promise<void>((resolve, reject) => {
    sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
  });
  if (file) await pipeline(createReadStream(file), sink);
  await written;
}

async function finish(stream: Readable, dest: string, gzip: boolean): Promise<void> {
  const out = createWriteStream(dest);
  if (gzip) await pipeline(stream, createGzip({ level: 9 }), out);
  else await pipeline(stream, out);
}

/**
 * A cpio archive of a tree, from its manifest: entries sorted by name, owners and modes as
 * recorded, inodes numbered 1.. in order, every mtime the same. Written with cpio-stream.
 */
export async function writeCpio(root: string, entries: TreeEntry[], dest: string, format: CpioFormat, o: ArchiveOptions): Promise<void> {
  const { default: cpio } = await import('cpio-stream');
  const pack = cpio.pack({ format });
  const done = finish(pack, dest, o.gzip);
  const list = entries.map((e) => ({ e, name: archiveName(e.path, o.prefix) })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let ino = 1;
  for (const { e, name } of list) {
    checkEntry(e, name, format);
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
    await addEntry(pack, header, e.type === 'file' ? join(root, e.path) : undefined);
  }
  pack.finalize();
  await done;
}

/** A ustar/pax archive of a tree, with the same rules as writeCpio. Written with tar-stream. */
export async function writeTar(root: string, entries: TreeEntry[], dest: string, o: ArchiveOptions): Promise<void> {
  const tar = await import('tar-stream');
  const pack = tar.pack();
  const done = finish(pack as unknown as Readable, dest, o.gzip);
  const list = entries.map((e) => ({ e, name: archiveName(e.path, o.prefix) })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const type = { file: 'file', dir: 'directory', symlink: 'symlink', char: 'character-device', block: 'block-device', fifo: 'fifo' } as const;
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
    await addEntry(pack as unknown as EntryPack, header, e.type === 'file' ? join(root, e.path) : undefined);
  }
  pack.finalize();
  await done;
}
