import { chmod, copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { definePlugin } from '../core/plugin.js';
import { p } from '../core/schema.js';
import { safeRelative } from './files.js';

/**
 * A tree laid out from other steps' files: `layout` maps a path in the tree to an input name.
 * Inputs are whatever the recipe passes; each file keeps the mode its artifact records.
 */
export const assemblePlugin = definePlugin({
  name: 'assemble',
  version: '1',
  description: 'lay out file artifacts as a tree (e.g. a TFTP root)',
  params: { layout: p.record(p.string()) },
  inputs: [] as string[],
  produces: { tree: 'tree' },
  async run(ctx) {
    await chmod(ctx.outputs.tree, 0o755);
    for (const [path, input] of Object.entries(ctx.params.layout).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const art = (ctx.inputs as Record<string, (typeof ctx.inputs)[string]>)[input];
      if (art?.kind !== 'file') throw new Error(`layout ${path}: input "${input}" is not a file input of this step`);
      const dest = join(ctx.outputs.tree, safeRelative(path, `step ${ctx.step} params.layout`));
      await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
      await copyFile(art.path, dest);
      await chmod(dest, art.mode);
    }
  },
});
