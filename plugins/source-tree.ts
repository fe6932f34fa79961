import { lstat } from 'node:fs/promises';
import { ifMissing } from '../base/errno.js';
import { errors } from '../base/errors.js';
import { copyTree } from '../cache/copy.js';
import { definePlugin } from '../core/plugin.js';
import { p } from '../core/schema.js';

/**
 * A local directory (relative to the config file) as a tree artifact. It is a declared source:
 * its digest (through a stat cache) is in the key, so an unchanged directory costs a few stat
 * calls per build, and a changed one re-runs the step even with --offline.
 */
export const sourceTreePlugin = definePlugin({
  name: 'source-tree',
  version: '1',
  description: 'a local directory, copied in with modes, owners and symlinks',
  params: { path: p.string() },
  produces: { tree: 'tree' },
  sources: (params) => [params.path],
  async run(ctx) {
    const src = ctx.resolvePath(ctx.params.path);
    const st = await lstat(src).catch(ifMissing(undefined));
    if (!st?.isDirectory()) throw errors.sourceMissing(src);
    await copyTree(src, ctx.outputs.tree, ctx.signal);
  },
});
