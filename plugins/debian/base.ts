import { definePlugin } from '../../core/plugin.js';
import { p } from '../../core/schema.js';
import { inReleaseDigest } from './mirror.js';

/** The values every Debian step shares: each reaches mmdebstrap's arguments, sources.list or an apt command line. */
export const suiteName = p.string({ pattern: /^[a-z][a-z0-9-]*$/, what: 'a Debian suite name' });
export const mirrorUrl = p.string({
  pattern: /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~%+-]+)*\/?$/,
  what: 'an http(s) mirror URL',
});
export const packageName = p.string({ pattern: /^[a-z0-9][a-z0-9.+-]*$/, what: 'a package name' });

/**
 * A Debian base tree from mmdebstrap. mmdebstrap rather than debootstrap: about as fast, it
 * cleans apt lists and caches itself, and with SOURCE_DATE_EPOCH set it clamps mtimes, so two
 * runs against the same mirror state differ only where Debian's postinst scripts insist.
 * mmdebstrap makes /dev/console 0666; a real system has it 0600 (any local user could write to
 * the console, and read it before devtmpfs is mounted over /dev).
 */
export const debianBasePlugin = definePlugin({
  name: 'debian-base',
  version: '2',
  description: 'mmdebstrap a Debian suite into a tree (fingerprint: the suite InRelease digest)',
  params: {
    suite: suiteName,
    mirror: mirrorUrl,
    variant: p.enum(['minbase', 'essential', 'apt', 'required', 'important', 'standard'] as const).default('minbase'),
    arch: p.string({ pattern: /^[a-z0-9]+$/, what: 'a Debian architecture' }).default('amd64'),
    include: p.array(packageName).default([]),
  },
  produces: { tree: 'tree' },
  tools: [{ name: 'mmdebstrap', package: 'mmdebstrap' }],
  fingerprint: (ctx) => inReleaseDigest(ctx.params.mirror, ctx.params.suite, ctx),
  async run(ctx) {
    const { suite, mirror, variant, arch, include } = ctx.params;
    const inc = include.length ? [`--include=${include.join(',')}`] : [];
    const hook =
      'rm -f "$1"/etc/resolv.conf; : > "$1"/etc/resolv.conf; : > "$1"/etc/machine-id; ' +
      'rm -f "$1"/etc/ssh/ssh_host_*; chmod 0600 "$1"/dev/console';
    // variant and arch are schema-checked words, so zx writes each option as one unquoted word either way
    const opts = [`--variant=${variant}`, `--architectures=${arch}`];
    await ctx.$`mmdebstrap --mode=root ${opts} ${inc} --customize-hook=${hook} ${suite} ${ctx.outputs.tree} ${mirror}`;
  },
});
