import { chmod } from 'node:fs/promises';
import { errors } from '../../base/errors.js';
import { definePlugin } from '../../core/plugin.js';
import { p } from '../../core/schema.js';
import { extractArchive } from '../extract-tar.js';

/**
 * A FreeBSD root from its distribution sets and packages, extracted in order into one tree: the
 * sets (base.txz, kernel.txz, ...) first, then pkg(8) packages (e.g. ezjail's), whose payload is
 * rooted at '/'. One step instead of an extract per archive and a merge: the root is written once.
 * Packages are unpacked, not installed: their install scripts do not run (ezjail has none that
 * matter; a package that needs one belongs in a custom step).
 */
export const freebsdRootPlugin = definePlugin({
  name: 'freebsd-root',
  version: '1',
  description: 'extract FreeBSD distribution sets and pkg archives, in order, into one root tree',
  params: {
    /** Input names of the distribution sets, in extraction order. */
    sets: p.array(p.string()),
    /** Input names of pkg(8) archives, extracted after the sets. */
    packages: p.array(p.string()).default([]),
  },
  inputs: [] as string[],
  produces: { tree: 'tree' },
  tools: [{ name: 'xz', package: 'xz-utils' }],
  async run(ctx) {
    const inputs = ctx.inputs as Record<string, (typeof ctx.inputs)[string]>;
    const order = [
      ...ctx.params.sets.map((name) => ({ name, pkg: false })),
      ...ctx.params.packages.map((name) => ({ name, pkg: true })),
    ];
    if (!order.length) throw errors.badValue(`step ${ctx.step} params.sets`, 'name at least one distribution set');
    for (const { name } of order)
      if (inputs[name]?.kind !== 'file')
        throw errors.badValue(`step ${ctx.step} params`, `"${name}" is not a file input of this step`);
    await chmod(ctx.outputs.tree, 0o755);
    for (const { name, pkg } of order) {
      const n = await extractArchive(inputs[name].path, ctx.outputs.tree, { devices: false, pkg }, ctx);
      ctx.log.info(`${name}: ${n} entries`);
    }
  },
});
