import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip, gunzipSync, constants as z } from 'node:zlib';
import { isErrno } from '../base/errno.js';

/** What makes one file (or one member of an archive) private. */
export interface Finding {
  path: string;
  why: string;
}

/**
 * Key material in a file's bytes. A PEM or OpenSSH header alone is not enough: ssh-keygen and
 * libssh carry "-----BEGIN OPENSSH PRIVATE KEY-----" as a string, followed by a NUL. A real key has
 * its base64 body (or an encryption header) on the next line.
 */
const KEY = new RegExp(
  [
    String.raw`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\r?\n(?:Proc-Type:|[A-Za-z0-9+/=]{16})`,
    String.raw`PuTTY-User-Key-File-\d: `,
    String.raw`SSH PRIVATE KEY FILE FORMAT 1\.1\n`,
  ].join('|'),
);
const OVERLAP = 160;

/** Names that are password or key files whatever they hold (hashes, or keys in any encoding). */
export function privateName(path: string): string | undefined {
  const b = basename(path);
  if (/^ssh_host_.+_key$/.test(b)) return `"${b}" is an SSH host private key`;
  if (/^g?shadow-?$/.test(b) || b === 'master.passwd' || b === 'spwd.db') return `"${b}" holds password hashes`;
  return undefined;
}

const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/**
 * Feeds chunks of a byte stream; says what key it found, if any. Memory stays bounded. ELF
 * programs and libraries are not searched: GnuTLS (in every initrd with nbd-client) carries its
 * FIPS self-test keys as PEM text. A key a user left in the tree is a file of its own.
 */
class KeyFinder {
  private tail = '';
  private started = false;
  private elf = false;
  found?: string;
  push(chunk: Buffer): void {
    if (!this.started) {
      this.started = true;
      this.elf = chunk.subarray(0, 4).equals(ELF);
    }
    if (this.found || this.elf) return;
    const text = this.tail + chunk.toString('latin1');
    const m = KEY.exec(text);
    if (m) this.found = `it holds a private key (${m[0].split(/\r?\n/)[0]})`;
    this.tail = text.slice(-OVERLAP);
  }
}

/** An archive member's stream is read to its end (stopping would stop the archive). */
async function scanStream(s: Readable, member = false): Promise<string | undefined> {
  const f = new KeyFinder();
  for await (const chunk of s) {
    f.push(chunk as Buffer);
    if (f.found && !member) {
      s.destroy();
      break;
    }
  }
  return f.found;
}

type Kind = 'cpio' | 'tar' | 'raw';

/** The first bytes of a file, decompressed if it is gzip: enough to tell an archive's format. */
async function sniff(path: string): Promise<{ gzip: boolean; kind: Kind }> {
  const fh = await open(path, 'r');
  const head = Buffer.alloc(64 * 1024);
  const { bytesRead } = await fh.read(head, 0, head.length, 0).finally(() => fh.close());
  let b = head.subarray(0, bytesRead);
  const gzip = b[0] === 0x1f && b[1] === 0x8b;
  if (gzip) {
    try {
      b = gunzipSync(b, { finishFlush: z.Z_SYNC_FLUSH });
    } catch {
      return { gzip, kind: 'raw' };
    }
  }
  const magic = b.subarray(0, 6).toString('latin1');
  if (magic === '070701' || magic === '070702' || magic === '070707') return { gzip, kind: 'cpio' };
  if (b.length >= 262 && b.toString('latin1', 257, 262) === 'ustar') return { gzip, kind: 'tar' };
  return { gzip, kind: 'raw' };
}

/**
 * Scans one regular file about to be published: its bytes, and if it is a (gzipped) cpio or tar
 * archive (an initramfs, a rootfs tarball) each member's name and bytes. Members are named
 * `<file>:<member>`. Other compressions (zstd, xz) are scanned as they are, undecoded.
 */
export async function scanFile(path: string, shownAs: string): Promise<Finding[]> {
  const { gzip, kind } = await sniff(path);
  const input = (): Readable => {
    const raw = createReadStream(path, { highWaterMark: 1 << 20 });
    return gzip ? raw.pipe(createGunzip()) : raw;
  };
  if (kind === 'raw') {
    const why = await scanStream(input()).catch((e: unknown) => {
      // Only gzip's magic, not gzip: scanned as it is, like other compressions. A read error fails.
      if (!gzip || !isErrno(e, 'Z_DATA_ERROR', 'Z_BUF_ERROR')) throw e;
      return scanStream(createReadStream(path, { highWaterMark: 1 << 20 }));
    });
    return why ? [{ path: shownAs, why }] : [];
  }
  return scanArchive(input(), kind, shownAs);
}

interface Member {
  name: string;
  type?: string;
  mode?: number;
}
interface Extractor extends NodeJS.WritableStream {
  on(ev: 'entry', fn: (h: Member, s: Readable, next: (e?: Error) => void) => void): this;
  on(ev: 'finish', fn: () => void): this;
  on(ev: 'error', fn: (e: Error) => void): this;
}

async function extractor(kind: 'cpio' | 'tar'): Promise<Extractor> {
  if (kind === 'tar') return (await import('tar-stream')).default.extract() as unknown as Extractor;
  return (await import('cpio-stream')).default.extract() as unknown as Extractor;
}

function isRegular(kind: 'cpio' | 'tar', h: Member): boolean {
  if (kind === 'tar') return h.type === 'file' || h.type === 'contiguous-file';
  return ((h.mode ?? 0) & 0o170000) === 0o100000;
}

async function scanArchive(src: Readable, kind: 'cpio' | 'tar', shownAs: string): Promise<Finding[]> {
  const found: Finding[] = [];
  const ex = await extractor(kind);
  await new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const name = header.name.replace(/^\.?\//, '');
      const member = `${shownAs}:${name}`;
      const regular = isRegular(kind, header);
      const byName = regular ? privateName(name) : undefined;
      if (byName) found.push({ path: member, why: byName });
      scanStream(stream, true).then((why) => {
        if (why && regular && !byName) found.push({ path: member, why });
        next();
      }, next);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
    src.on('error', reject);
    src.pipe(ex);
  }).catch((e: Error) => {
    // What cannot be read cannot be vouched for: refused too, with the reason.
    found.push({
      path: shownAs,
      why: `it cannot be read as a ${kind} archive (${e.message}), so it cannot be checked`,
    });
  });
  return found;
}
