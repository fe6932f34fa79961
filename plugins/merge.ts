import { definePlugin } from '../core/plugin.js';

/**
 * Overlays one tree on another: `overlay` wins where both have a path. The usual way to add
 * your own files after a recipe's rootfs step.
 */
export const mergePlugin = definePlugin({
  name: 'merge',
  version: '1',
  description: 'overlay one tree on another (the overlay wins)',
  inputs: ['base', 'overlay'],
  produces: { tree: 'tree' },
  async run(ctx) {
    await ctx.copyTree('base', ctx.outputs.tree);
    await ctx.copyTree('overlay', ctx.outputs.tree);
  },
});
