import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ifMissing } from '../../base/errno.js';
import { definePlugin } from '../../core/plugin.js';
import { p } from '../../core/schema.js';
import { mirrorUrl, packageName, suiteName } from './base.js';
import { inChroot, SCRUB, sh } from './chroot.js';
import { inReleaseDigest } from './mirror.js';

/**
 * Packages installed with apt into a private copy of a Debian tree. The mirror's InRelease digest
 * is the fingerprint (what apt would fetch changes with it); apt's lists and caches, the host's
 * resolv.conf and generated SSH host keys are removed from the result.
 */
export const aptInstallPlugin = definePlugin({
  name: 'apt-install',
  version: '1',
  description: 'apt-get install packages into a copy of a Debian tree',
  params: {
    suite: suiteName,
    mirror: mirrorUrl,
    packages: p.array(packageName),
  },
  inputs: ['tree'],
  produces: { tree: 'tree' },
  tools: [
    { name: 'unshare', package: 'util-linux' },
    { name: 'chroot', package: 'coreutils' },
  ],
  fingerprint: (ctx) => inReleaseDigest(ctx.params.mirror, ctx.params.suite, ctx.signal),
  async run(ctx) {
    const root = ctx.outputs.tree;
    await ctx.copyTree('tree', root);
    // Name resolution for apt, for the duration only: SCRUB empties it again.
    await copyFile('/etc/resolv.conf', join(root, 'etc/resolv.conf')).catch(ifMissing(undefined));
    await inChroot(
      ctx.$,
      root,
      [
        'export DEBIAN_FRONTEND=noninteractive',
        'apt-get update -q',
        `apt-get install -y -q --no-install-recommends ${ctx.params.packages.map((x) => sh`${x}`).join(' ')}`,
        SCRUB,
      ].join('\n'),
    );
  },
});
