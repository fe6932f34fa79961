import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ifMissing } from '../../base/errno.js';
import { definePlugin } from '../../core/plugin.js';
import { p } from '../../core/schema.js';
import { packageName } from './base.js';
import { inChroot, SCRUB, sh } from './chroot.js';
import { aptSource, presentSources, SUITE_NAMES, sourcesFingerprint, writeSources } from './sources.js';

/**
 * Packages installed with apt into a private copy of a Debian tree, from the sources given (written
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
  ],
  fingerprint: (ctx) => sourcesFingerprint(ctx.params.sources, ctx.signal),
  async run(ctx) {
    const root = ctx.outputs.tree;
    await ctx.copyTree('tree', root);
    await writeSources(root, ctx.params.suite, presentSources(ctx.params.sources, ctx.fingerprint));
    await aptInChroot(ctx.$, root, [
      'apt-get update -q',
      `apt-get install -y -q --no-install-recommends ${ctx.params.packages.map((x) => sh`${x}`).join(' ')}`,
    ]);
  },
});

/**
 * Runs apt commands chrooted in a tree, then scrubs it. When apt refuses (a package the suite
 * lacks, a broken dependency), its own `E:` lines are the error, on one line.
 */
export async function aptInChroot($: Parameters<typeof inChroot>[0], root: string, commands: string[]) {
  // Name resolution for apt, for the duration only: SCRUB empties it again.
  await copyFile('/etc/resolv.conf', join(root, 'etc/resolv.conf')).catch(ifMissing(undefined));
  try {
    await inChroot($, root, ['export DEBIAN_FRONTEND=noninteractive', ...commands, SCRUB].join('\n'));
  } catch (e) {
    const said = String((e as { stderr?: unknown }).stderr ?? '').match(/^E: .*$/gm);
    if (said) throw new Error(`apt: ${said.join(' ')}`);
    throw e;
  }
}
