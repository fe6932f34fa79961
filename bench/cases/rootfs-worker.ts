// One timed netboot run of the rootfs cases, as a process of its own like the tools it is
// compared with. Prints one JSON line: what it did, and its own time without node's startup.
//   digest <stat-cache file> <tree>          what the engine does for a source tree (cache/local-digest.ts)
// cpio|tar <tree> <manifest> <dest>        what the cpio and tar steps do (plugins/cpio.ts, plugins/tar.ts),
// uncompressed
import { readFileSync } from 'node:fs';
import { StatCache } from '../../cache/stat-cache.js';
import { digestTree, parseManifest } from '../../cache/tree.js';
import { writeCpio, writeTar } from '../../plugins/archive-write.js';

/** The default config's sourceDateEpoch: every archive entry gets this mtime. */
const MTIME = 1700000000;

async function main(): Promise<Record<string, unknown>> {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'digest') {
    const [statFile, tree] = args;
    // digestLocal's steps, spelled out so the hit and miss counts can prove cold is cold and warm is warm.
    const cache = await StatCache.open(statFile);
    const t = await digestTree(tree, { statCache: cache });
    await cache.save();
    return { digest: t.digest, hits: cache.hits, misses: cache.misses };
  }
  if (cmd === 'cpio' || cmd === 'tar') {
    const [tree, manifest, dest] = args;
    // As the steps get it from ctx.manifest: the stored manifest, read and parsed.
    const entries = parseManifest(readFileSync(manifest, 'utf8'));
    const o = { prefix: '', mtime: MTIME, gzip: false };
    if (cmd === 'cpio') await writeCpio(tree, entries, dest, 'newc', o);
    else await writeTar(tree, entries, dest, o);
    return { entries: entries.length };
  }
  throw new Error(`rootfs-worker: unknown command ${cmd ?? '(none)'}`);
}

const t0 = performance.now();
main().then(
  // maxRSS: the process's peak resident set in KiB (getrusage), what `/usr/bin/time -f %M` reports.
  (r) =>
    process.stdout.write(
      `${JSON.stringify({ ...r, ms: performance.now() - t0, maxRssKiB: process.resourceUsage().maxRSS })}\n`,
    ),
  (e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  },
);
