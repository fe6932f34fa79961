import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { errors, isNetbootError } from '../base/errors.js';
import { definePlugin } from '../core/plugin.js';
import { p } from '../core/schema.js';

/**
 * A fixed-output input (a FreeBSD distribution set, a package archive): a URL or a local path,
 * pinned by its sha256. The bytes are verified while they are written, and a mismatch fails the
 * step, so the cache can only ever hold the pinned content.
 *
 * Key trade-off: every param enters the action key, so the URL is part of it too. Changing
 * only the URL (moving to a mirror, or to a file:// copy when offline) re-runs this step once;
 * its output has the same digest, so no later step runs again. A key made of sha256 alone would
 * need the engine to leave params out of keys, which no other plugin wants.
 *
 * There is no fingerprint: the content is fixed by its digest, so a cached set is never looked
 * up again, and a local path is not a `source` (editing the file cannot change what is cached).
 */
export const fetchFilePlugin = definePlugin({
  name: 'fetch-file',
  version: '1',
  description: 'a file from an http(s)/file URL or a local path, verified against a pinned sha256',
  params: {
    url: p.optional(p.string({ pattern: /^(https?|file):\/\/\S+$/, what: 'an http://, https:// or file:// URL' })),
    path: p.optional(p.string().describe('a local file, relative to the config')),
    /**
     * Required to fetch anything. Optional in the schema only so that a config naming a source it
     * has not pinned yet still loads: that step (and only it) fails, saying where to find the digest.
     */
    sha256: p.optional(p.string({ pattern: /^[0-9a-f]{64}$/, what: 'a sha256 (64 lowercase hex digits)' })),
  },
  produces: { file: 'file' },
  async run(ctx) {
    const { url, path, sha256 } = ctx.params;
    if ((url === undefined) === (path === undefined))
      throw errors.badValue(`step ${ctx.step} params`, 'give exactly one of url and path');
    if (!sha256) throw errors.sourceNotPinned(`step ${ctx.step} params.sha256`, url ?? path!, manifestHint(url));
    const remote = url !== undefined && !url.startsWith('file:');
    const file = remote ? undefined : url ? localPath(url, ctx.step) : ctx.resolvePath(path!);
    const source = url ?? file!;
    const name = fileName(url ?? path!);
    // Where to put a copy by hand: beside the config, in a directory any recipe can point at.
    const local = ctx.resolvePath(`distfiles/${name}`);
    const hint = remote
      ? `download ${url} yourself (sha256 ${sha256}), put it at ${local} ` +
        `and set url to "${pathToFileURL(local)}" (or path: "distfiles/${name}")`
      : `put ${name} (sha256 ${sha256}) at ${file}`;

    const hashing = hasher();
    try {
      const input = remote ? await download(url, ctx.signal) : await openLocal(file!);
      await pipeline(input, hashing.stream, createWriteStream(ctx.outputs.file), { signal: ctx.signal });
    } catch (e) {
      if (ctx.signal.aborted || isNetbootError(e)) throw e;
      ctx.log.warn(hint);
      throw errors.fetchFailed(source, reason(e), hint);
    }
    const actual = hashing.digest();
    if (actual !== sha256) throw errors.digestMismatch(source, sha256, actual, hashing.size());
    await chmod(ctx.outputs.file, 0o644);
    ctx.log.info(`${source}: ${hashing.size()} bytes, sha256 ${actual} as pinned`);
  },
});

/** FreeBSD's release directories list every set's sha256 in a MANIFEST file beside it. */
function manifestHint(url: string | undefined): string {
  if (!url || !/^https?:.*\/[^/]+\.txz$/.test(url)) return '';
  return (
    ` (for a FreeBSD set, the MANIFEST beside it, ${url.replace(/[^/]*$/, 'MANIFEST')}, has it in its second column; ` +
    "check that file against the release announcement's signed checksums)"
  );
}

/** The last path segment of a URL or path, for messages (e.g. base.txz). */
function fileName(source: string): string {
  let last = basename(source.replace(/[?#].*$/, ''));
  try {
    last = decodeURIComponent(last);
  } catch {
    // not percent-encoded
  }
  return last && last !== '/' && !last.includes('/') ? last : 'download';
}

function localPath(url: string, step: string): string {
  try {
    return fileURLToPath(url);
  } catch (e) {
    throw errors.badValue(`step ${step} params.url`, `${url}: ${(e as Error).message}`);
  }
}

async function download(url: string, signal: AbortSignal): Promise<Readable> {
  // fetch follows up to 20 redirects; the final status is what counts.
  const res = await fetch(url, { signal, redirect: 'follow' });
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
  }
  return Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
}

async function openLocal(file: string): Promise<Readable> {
  const st = await stat(file);
  if (!st.isFile()) throw new Error(`${file} is not a regular file`);
  return createReadStream(file, { highWaterMark: 1 << 20 });
}

function hasher() {
  const h = createHash('sha256');
  let size = 0;
  let hex: string | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, size: () => size, digest: () => (hex ??= h.digest('hex')) };
}

/** fetch's own message is "fetch failed"; the useful part (ECONNREFUSED, ENOTFOUND) is its cause. */
function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  if (err?.code === 'ENOENT') return 'no such file';
  const cause = err?.cause;
  if (cause) return cause.message || cause.code || String(cause);
  return err?.message ?? String(e);
}
