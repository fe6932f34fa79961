import { definePlugin } from '../core/plugin.js';
import { p } from '../core/schema.js';
import { archiveParams, LIBRARIES, narrow } from './archive-params.js';
import { writeCpio } from './archive-write.js';

/** A tree packed as a cpio archive: newc for a Linux initramfs, odc for FreeBSD's /conf. */
export const cpioPlugin = definePlugin({
  name: 'cpio',
  version: '1',
  description: 'pack a tree into a (gzipped) newc or odc cpio archive, deterministically',
  params: { format: p.enum(['newc', 'odc'] as const).default('newc'), ...archiveParams },
  inputs: ['tree'],
  produces: { archive: 'file' },
  libraries: LIBRARIES,
  async run(ctx) {
    const { format, prefix, gzip, subdir } = ctx.params;
    const part = narrow(ctx.inputs.tree.path, await ctx.manifest('tree'), subdir, ctx.step);
    await writeCpio(part.root, part.entries, ctx.outputs.archive, format, { prefix, gzip, mtime: ctx.sourceDateEpoch });
  },
});
