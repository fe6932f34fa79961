import { definePlugin } from '../../core/plugin.js';
import { p } from '../../core/schema.js';
import { aptInChroot } from './apt-install.js';
import { aptSource, presentSources, SUITE_NAMES, sourcesFingerprint, writeSources } from './sources.js';

/**
 * A Debian tree brought up to date from the sources given (the suite, its -updates and the
 * security archive's -security): `apt-get dist-upgrade` on an overlay of it (ctx.editTree), which downloads only the
 * packages that changed. The sources are written into the tree for the host's own apt. Its
 * fingerprint is the state of the update suites only (`watch`): the main suite's state is in the
 * input tree already, so a security fix re-runs this step and what follows, never the base.
 */
export const debianUpgradePlugin = definePlugin({
  name: 'debian-upgrade',
  version: '2',
  description: 'apt-get dist-upgrade a copy of a Debian tree (fingerprint: the -updates and -security InRelease)',
  params: {
    suite: p.enum(SUITE_NAMES),
    sources: p.array(aptSource),
    /** The suites whose state is the fingerprint (the update suites). */
    watch: p.array(aptSource),
  },
  inputs: ['tree'],
  produces: { tree: 'tree' },
  tools: [
    { name: 'unshare', package: 'util-linux' },
    { name: 'chroot', package: 'coreutils' },
    // ctx.editTree reads and clears overlayfs's xattrs in what the step changed.
    { name: 'getfattr', package: 'attr' },
  ],
  fingerprint: (ctx) => sourcesFingerprint(ctx.params.watch, ctx),
  async run(ctx) {
    await ctx.editTree('tree', 'tree', async (root) => {
      await writeSources(root, ctx.params.suite, presentSources(ctx.params.sources, ctx.fingerprint));
      await aptInChroot(ctx, root, {
        // Config files the image did not change take the package's new version; changed ones are kept.
        get:
          'dist-upgrade -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef ' +
          '-o Dpkg::Options::=--force-confold',
        after: [
          // A kernel security fix is a new linux-image-<abi> package beside the old one, which apt keeps
          // (it never removes the newest two): the image boots the newest, so the older ones go.
          'new=$(ls /lib/modules | sort -V | tail -n 1)',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a dpkg-query format, not JavaScript
          "old=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' 'linux-image-[0-9]*' 2>/dev/null | " +
            'awk -v keep="linux-image-$new" \'$1 == "ii" && $2 != keep && $2 != keep "-unsigned" { print $2 }\')',
          'if [ -n "$old" ]; then apt-get purge -y -q $old; fi',
          'apt-get autoremove -y -q --purge',
        ],
      });
    });
  },
});
