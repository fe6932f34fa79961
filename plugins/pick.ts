import { chmod, chown, copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errors } from '../base/errors.js';
import { definePlugin } from '../core/plugin.js';
import { p } from '../core/schema.js';
import { safeRelative } from './files.js';

/**
 * Regular files taken out of a tree and laid out as a new one, e.g. FreeBSD's pxeboot from the
 * extracted base set into a TFTP tree. Modes and owners are the source's, as its manifest records
 * them; a path that is not a regular file of the input (a symlink, a directory) is refused rather
 * than followed.
 */
export const pickPlugin = definePlugin({
  name: 'pick',
  version: '1',
  description: 'copy chosen files of a tree into a new tree (new path -> path in the input)',
  params: { files: p.record(p.string()) },
  inputs: ['tree'],
  produces: { tree: 'tree' },
  async run(ctx) {
    const where = `step ${ctx.step} params.files`;
    const byPath = new Map((await ctx.manifest('tree')).map((e) => [e.path, e]));
    await chmod(ctx.outputs.tree, 0o755);
    for (const [to, from] of Object.entries(ctx.params.files).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const src = byPath.get(safeRelative(from, where));
      if (src?.type !== 'file')
        throw errors.badValue(
          `${where}.${to}`,
          `"${from}" is ${src ? `a ${src.type}` : 'not in the input tree'}, not a regular file`,
        );
      const dest = join(ctx.outputs.tree, safeRelative(to, where));
      await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
      await copyFile(join(ctx.inputs.tree.path, src.path), dest);
      await chown(dest, src.uid, src.gid);
      await chmod(dest, src.mode);
    }
  },
});
