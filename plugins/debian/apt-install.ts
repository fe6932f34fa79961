import { copyFile, lstat, mkdir, readdir, readFile, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { ifMissing } from '../../base/errno.js';
import type { DebStore } from '../../cache/deb-store.js';
import { definePlugin, type StepLogger } from '../../core/plugin.js';
import { p } from '../../core/schema.js';
import { packageName } from './base.js';
import { inChroot, SCRUB, sh } from './chroot.js';
import { aptSource, presentSources, SUITE_NAMES, sourcesFingerprint, writeSources } from './sources.js';

/**
 * Packages installed with apt into a Debian tree (on an overlay of it: ctx.editTree), from the sources given (written
 * into the tree as the suite prefers them, and left there for the host's own apt). Every suite's
 * InRelease digest is the fingerprint (what apt would fetch changes with it); apt's lists and
 * caches, the host's resolv.conf and generated SSH host keys are removed from the result.
 */
export const aptInstallPlugin = definePlugin({
  name: 'apt-install',
  version: '2',
  description: 'apt-get install packages into a copy of a Debian tree (fingerprint: every suite InRelease)',
  params: {
    suite: p.enum(SUITE_NAMES),
    sources: p.array(aptSource),
    packages: p.array(packageName),
  },
  inputs: ['tree'],
  produces: { tree: 'tree' },
  tools: [
    { name: 'unshare', package: 'util-linux' },
    { name: 'chroot', package: 'coreutils' },
    // ctx.editTree reads and clears overlayfs's xattrs in what the step changed.
    { name: 'getfattr', package: 'attr' },
  ],
  fingerprint: (ctx) => sourcesFingerprint(ctx.params.sources, ctx),
  async run(ctx) {
    await ctx.editTree('tree', 'tree', async (root) => {
      await writeSources(root, ctx.params.suite, presentSources(ctx.params.sources, ctx.fingerprint));
      await aptInChroot(ctx, root, {
        get: `install -y -q --no-install-recommends ${ctx.params.packages.map((x) => sh`${x}`).join(' ')}`,
      });
    });
  },
});

/**
 * Runs `apt-get <get>` (the command that downloads) chrooted in a tree after `apt-get update`, then
 * `after`, then scrubs the tree. With the cache's download store, the packages apt would fetch are
 * taken from it first (`--print-uris` names each with its SHA256 from the index) and what apt
 * fetched goes into it. When apt refuses (a package the suite lacks, a broken dependency), its own
 * `E:` lines are the error, on one line.
 */
export async function aptInChroot(
  ctx: { $: Parameters<typeof inChroot>[0]; downloads?: DebStore; log: StepLogger },
  root: string,
  o: { get: string; after?: string[] },
) {
  // Name resolution for apt, for the duration only: SCRUB empties it again.
  await copyFile('/etc/resolv.conf', join(root, 'etc/resolv.conf')).catch(ifMissing(undefined));
  const env = 'export DEBIAN_FRONTEND=noninteractive';
  const store = ctx.downloads;
  if (!store) return aptScript(ctx.$, root, [env, 'apt-get update -q', `apt-get ${o.get}`, ...(o.after ?? []), SCRUB]);
  const list = 'tmp/netboot-apt-uris';
  const lists = await linkLists(store, root);
  // ForceHash: the index's SHA256 is printed even where it also gives SHA512 (apt-ftparchive's do).
  await aptScript(ctx.$, root, [
    env,
    'apt-get update -q',
    `apt-get -o Acquire::ForceHash=SHA256 --print-uris ${o.get} > /${list}`,
  ]);
  const kept = await keepLists(store, root, lists);
  ctx.log.info(`apt lists: ${lists.size} from the store, ${kept} new kept`);
  const wanted = parseUris(await readFile(join(root, list), 'utf8'));
  await rm(join(root, list));
  const archives = join(root, 'var/cache/apt/archives');
  const tally = { reused: 0, reusedBytes: 0, fetched: 0, fetchedBytes: 0 };
  const fetched: AptUri[] = [];
  for (const u of wanted)
    if (await store.linkOut(u.sha256, join(archives, u.name))) {
      tally.reused++;
      tally.reusedBytes += u.size;
    } else fetched.push(u);
  await aptScript(ctx.$, root, [env, `apt-get ${o.get}`, ...(o.after ?? [])]);
  for (const u of fetched)
    if (await store.add(join(archives, u.name), u.sha256)) {
      tally.fetched++;
      tally.fetchedBytes += u.size;
    }
  ctx.log.info(
    `downloads: ${tally.reused} packages (${tally.reusedBytes} bytes) from the store, ` +
      `${fetched.length} fetched (${fetched.reduce((n, u) => n + u.size, 0)} bytes; ${tally.fetched} stored)`,
  );
  await aptScript(ctx.$, root, [SCRUB]);
}

/**
 * Links the store's last index files into the tree's apt lists, each checked against its sha256.
 * Their mtime is set to 0: apt's `If-Modified-Since` then never gets a 304 for a changed file; it
 * gets the InRelease whole, and answers "Hit" (no index fetched) only when it is the same. apt
 * drops the files of suites the tree does not name; SCRUB removes the rest from the output.
 */
async function linkLists(store: DebStore, root: string): Promise<Map<string, number>> {
  const dir = join(root, LISTS);
  const linked = new Map<string, number>();
  await mkdir(dir, { recursive: true });
  for (const [name, sha] of await store.lists()) {
    const dest = join(dir, name);
    if (!(await store.linkOut(sha, dest))) continue;
    await utimes(dest, 0, 0);
    linked.set(name, (await lstat(dest)).ino);
  }
  return linked;
}

/** Keeps what `apt-get update` fetched (a file it did not have from the store) as the latest of its name. */
async function keepLists(store: DebStore, root: string, linked: Map<string, number>): Promise<number> {
  const dir = join(root, LISTS);
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!e.isFile() || e.name === 'lock') continue;
    const file = join(dir, e.name);
    if (linked.get(e.name) === (await lstat(file)).ino) continue;
    if (await store.keepList(e.name, file)) n++;
  }
  return n;
}

const LISTS = 'var/lib/apt/lists';

async function aptScript($: Parameters<typeof inChroot>[0], root: string, commands: string[]) {
  try {
    await inChroot($, root, commands.join('\n'));
  } catch (e) {
    const said = String((e as { stderr?: unknown }).stderr ?? '').match(/^E: .*$/gm);
    if (said) throw new Error(`apt: ${said.join(' ')}`);
    throw e;
  }
}

export interface AptUri {
  uri: string;
  /** The file's name in /var/cache/apt/archives. */
  name: string;
  size: number;
  sha256: string;
}

/** `apt-get --print-uris` lines of packages: `'URI' NAME SIZE SHA256:HEX`; other lines (other hashes) are left out. */
export function parseUris(text: string): AptUri[] {
  const out: AptUri[] = [];
  for (const line of text.split('\n')) {
    const m = line.match(/^'([^']+)' (\S+\.deb) (\d+) SHA256:([0-9a-f]{64})$/);
    if (m && !m[2].includes('/')) out.push({ uri: m[1], name: m[2], size: Number(m[3]), sha256: m[4] });
  }
  return out;
}
