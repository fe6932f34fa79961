import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { errors, isNetbootError } from '../base/errors.js';
import { definePlugin, type StepLogger } from '../core/plugin.js';
import { p } from '../core/schema.js';
import { SafeExtractor } from './safe-extract.js';

type Format = 'xz' | 'zstd' | 'gzip' | 'tar';

/**
 * A tar archive (.txz, .tgz or plain, told apart by magic bytes) extracted into a tree, keeping
 * modes, numeric owners, symlinks and hardlinks. Mtimes are not kept: tree digests ignore them.
 *
 * Why tar-stream behind the `xz` program rather than bsdtar: every name is checked by our code
 * (safe-extract.ts) before anything is created, so a hostile entry fails the whole step naming
 * the entry and the reason; bsdtar strips a leading '/' and skips '..' names with a warning, which
 * leaves a partial tree and an exit code to interpret. Why the `xz` program (xz-utils) rather than
 * an npm xz library: it is the reference decoder, needs no native addon, and decodes in its own
 * process while we write files; its version enters the key like any tool's.
 * tar-stream applies pax path/linkpath/size; pax uid and gid are applied by the extractor.
 */
export const extractTarPlugin = definePlugin({
  name: 'extract-tar',
  version: '1',
  description: 'safely extract a tar, .tgz or .txz archive into a tree (modes, owners, links kept)',
  params: {
    devices: p.boolean().default(false).describe('create device nodes and FIFOs instead of refusing them'),
  },
  inputs: ['archive'],
  produces: { tree: 'tree' },
  tools: [
    { name: 'xz', package: 'xz-utils' },
    { name: 'mknod', package: 'coreutils' },
  ],
  async run(ctx) {
    const n = await extractArchive(
      ctx.inputs.archive.path,
      ctx.outputs.tree,
      { devices: ctx.params.devices, pkg: false },
      ctx,
    );
    ctx.log.info(`${n} entries extracted`);
  },
});

export interface ExtractOptions {
  /** Create device nodes and FIFOs instead of refusing them. */
  devices: boolean;
  /** A pkg(8) package: its '/'-rooted names land under the tree's root and its +METADATA is skipped. */
  pkg: boolean;
}

/**
 * Extracts one archive into `root` (which may already hold an earlier archive's entries: later
 * entries replace files, never directories). Returns the number of entries.
 */
export async function extractArchive(
  file: string,
  root: string,
  o: ExtractOptions,
  ctx: { signal: AbortSignal; log: StepLogger },
  metadata?: Map<string, Buffer>,
): Promise<number> {
  const format = await detect(file);
  ctx.log.info(`extracting ${basename(file)}: a ${format === 'tar' ? 'plain' : format} tar archive`);
  const tar = await import('tar-stream');
  const src = decompress(file, format, ctx.signal);
  const ex = tar.extract();
  // Settled into values at once: a rejection nobody awaits yet would end the process.
  const feeding = pipeline([...src.streams, ex], { signal: ctx.signal }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const decoding = src.done.then(
    () => undefined,
    (e: unknown) => e,
  );
  const x = new SafeExtractor(root, o);
  let failure: unknown;
  try {
    for await (const entry of ex) await x.entry(entry.header, entry);
    await x.finish();
    for (const [k, v] of x.metadata) metadata?.set(k, v);
  } catch (e) {
    failure = e;
    src.stop();
    ex.destroy();
  }
  const fed = await feeding;
  const decoder = await decoding;
  if (ctx.signal.aborted) throw ctx.signal.reason;
  if (isNetbootError(failure)) throw failure;
  // A truncated or corrupt .txz shows up as a short tar stream; xz's own message says more.
  if (decoder) throw decoder;
  const bad = failure ?? fed;
  if (bad) throw errors.badArchive((bad as Error).message ?? String(bad));
  return x.count;
}

const XZ = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ZSTD = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

async function detect(file: string): Promise<Format> {
  const fh = await open(file, 'r');
  const buf = Buffer.alloc(512);
  const { bytesRead } = await fh.read(buf, 0, 512, 0).finally(() => fh.close());
  if (buf.subarray(0, 6).equals(XZ)) return 'xz';
  // pkg(8) >= 1.17 packs .pkg files as zstd-compressed tar.
  if (buf.subarray(0, 4).equals(ZSTD)) return 'zstd';
  if (buf[0] === 0x1f && buf[1] === 0x8b) return 'gzip';
  if (bytesRead >= 262 && buf.toString('latin1', 257, 262) === 'ustar') return 'tar';
  const what =
    buf.subarray(0, 3).toString('latin1') === 'BZh' ? 'bzip2 is not supported' : 'not a tar, .tgz or .txz archive';
  throw errors.badArchive(`${what} (first bytes ${buf.subarray(0, 8).toString('hex')})`);
}

function decompress(file: string, format: Format, signal: AbortSignal) {
  if (format !== 'xz' && format !== 'zstd') {
    const raw = createReadStream(file, { highWaterMark: 1 << 20 });
    return { streams: format === 'gzip' ? [raw, createGunzip()] : [raw], done: Promise.resolve(), stop() {} };
  }
  const child = spawn(format, ['-dc', '--', file], { stdio: ['ignore', 'pipe', 'pipe'], signal });
  let stderr = '';
  let stopped = false;
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => (stopped ? resolve() : reject(e)));
    child.on('close', (code, sig) => {
      if (code === 0 || stopped) resolve();
      else reject(errors.badArchive(`${format} -dc exited with ${code ?? sig}: ${stderr.trim().split('\n').pop()}`));
    });
  });
  const stop = () => {
    stopped = true;
    child.kill('SIGTERM');
  };
  return { streams: [child.stdout], done, stop };
}
