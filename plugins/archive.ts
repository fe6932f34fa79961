import { definePlugin } from '../core/plugin.js';
import { p } from '../core/schema.js';
import { writeCpio, writeTar } from './archive-write.js';

/** gzip's bytes depend on the zlib build; the archive writers are pinned in package-lock.json. */
const LIBRARIES = { zlib: process.versions.zlib };

const common = {
  prefix: p.string().default('').describe("prepended to every entry name: '', './' or e.g. 'etc/'"),
  gzip: p.boolean().default(true),
};

/** A tree packed as a cpio archive: newc for a Linux initramfs, odc for FreeBSD's /conf. */
export const cpioPlugin = definePlugin({
  name: 'cpio',
  version: '1',
  description: 'pack a tree into a (gzipped) newc or odc cpio archive, deterministically',
  params: { format: p.enum(['newc', 'odc'] as const).default('newc'), ...common },
  inputs: ['tree'],
  produces: { archive: 'file' },
  libraries: LIBRARIES,
  async run(ctx) {
    const { format, prefix, gzip } = ctx.params;
    await writeCpio(ctx.inputs.tree.path, await ctx.manifest('tree'), ctx.outputs.archive, format, { prefix, gzip, mtime: ctx.sourceDateEpoch });
  },
});

/** A tree packed as a tar archive (pax/ustar), deterministically. */
export const tarPlugin = definePlugin({
  name: 'tar',
  version: '1',
  description: 'pack a tree into a (gzipped) tar archive, deterministically',
  params: { ...common },
  inputs: ['tree'],
  produces: { archive: 'file' },
  libraries: LIBRARIES,
  async run(ctx) {
    const { prefix, gzip } = ctx.params;
    await writeTar(ctx.inputs.tree.path, await ctx.manifest('tree'), ctx.outputs.archive, { prefix, gzip, mtime: ctx.sourceDateEpoch });
  },
});
