import { join } from 'node:path';
import { errors } from '../base/errors.js';
import { definePlugin, type TreeEntry } from '../core/plugin.js';
import { p } from '../core/schema.js';
import { writeCpio, writeTar } from './archive-write.js';

/** gzip's bytes depend on the zlib build; the archive writers are pinned in package-lock.json. */
const LIBRARIES = { zlib: process.versions.zlib };

const common = {
  prefix: p.string().default('').describe("prepended to every entry name: '', './' or e.g. 'etc/'"),
  gzip: p.boolean().default(true),
  subdir: p.string({ pattern: /^(?:[^/.][^/]*(?:\/[^/.][^/]*)*)?$/, what: "a relative directory of the tree ('' for all of it)" })
    .default('')
    .describe("pack only this directory of the tree (e.g. 'etc' of a rootfs), its entries named relative to it"),
};

/**
 * The part of a tree the archive holds: the whole tree, or one directory of it (FreeBSD's
 * conf/base/etc.cpio.gz is the root's etc/ alone). No copy is made: the manifest is narrowed.
 */
function narrow(root: string, entries: TreeEntry[], subdir: string, step: string): { root: string; entries: TreeEntry[] } {
  if (!subdir) return { root, entries };
  const top = entries.find((e) => e.path === subdir);
  if (top?.type !== 'dir') throw errors.badValue(`step ${step} params.subdir`, `"${subdir}" is not a directory of the input tree`);
  const under = `${subdir}/`;
  const picked = entries.filter((e) => e.path === subdir || e.path.startsWith(under)).map((e) => ({ ...e, path: e.path === subdir ? '.' : e.path.slice(under.length) }));
  return { root: join(root, subdir), entries: picked };
}

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
    const { format, prefix, gzip, subdir } = ctx.params;
    const part = narrow(ctx.inputs.tree.path, await ctx.manifest('tree'), subdir, ctx.step);
    await writeCpio(part.root, part.entries, ctx.outputs.archive, format, { prefix, gzip, mtime: ctx.sourceDateEpoch });
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
    const { prefix, gzip, subdir } = ctx.params;
    const part = narrow(ctx.inputs.tree.path, await ctx.manifest('tree'), subdir, ctx.step);
    await writeTar(part.root, part.entries, ctx.outputs.archive, { prefix, gzip, mtime: ctx.sourceDateEpoch });
  },
});
