import { definePlugin } from '../core/plugin.js';
import { archiveParams, LIBRARIES, narrow } from './archive-params.js';
import { writeTar } from './archive-write.js';

/** A tree packed as a tar archive (pax/ustar), deterministically. */
export const tarPlugin = definePlugin({
  name: 'tar',
  version: '1',
  description: 'pack a tree into a (gzipped) tar archive, deterministically',
  params: { ...archiveParams },
  inputs: ['tree'],
  produces: { archive: 'file' },
  libraries: LIBRARIES,
  async run(ctx) {
    const { prefix, gzip, subdir } = ctx.params;
    const part = narrow(ctx.inputs.tree.path, await ctx.manifest('tree'), subdir, ctx.step);
    await writeTar(part.root, part.entries, ctx.outputs.archive, { prefix, gzip, mtime: ctx.sourceDateEpoch });
  },
});
