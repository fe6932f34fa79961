import { chmod, lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ifMissing } from '../../base/errno.js';
import { errors } from '../../base/errors.js';
import { definePlugin } from '../../core/plugin.js';
import { p } from '../../core/schema.js';
import { extractArchive } from '../extract-tar.js';
import { type PkgManifest, pkgRegistration, readPkgManifest } from './pkg-register.js';

/**
 * A FreeBSD root from its distribution sets and packages, extracted in order into one tree: the
 * sets (base.txz, kernel.txz, ...) first, then pkg(8) packages (e.g. ezjail's), whose payload is
 * rooted at '/'. One step instead of an extract per archive and a merge: the root is written once.
 * Packages are unpacked, not installed: their install scripts do not run (ezjail has none that
 * matter; a package that needs one belongs in a custom step). Each one's +MANIFEST (without its
 * scripts) is kept in /var/db/netboot/pkg, with the order to register them in (dependencies
 * first) and an rc.d script that registers them with `pkg register -M` at boot: pkg's database
 * (/var/db/pkg/local.sqlite) lives on the memory /var of a diskless host, and only pkg itself
 * writes it in the schema its own version expects.
 */
export const freebsdRootPlugin = definePlugin({
  name: 'freebsd-root',
  version: '2',
  description: 'extract FreeBSD distribution sets and pkg archives, in order, into one root tree',
  params: {
    /** Input names of the distribution sets, in extraction order. */
    sets: p.array(p.string()),
    /** Input names of pkg(8) archives, extracted after the sets. */
    packages: p.array(p.string()).default([]),
  },
  inputs: [] as string[],
  produces: { tree: 'tree' },
  tools: [
    { name: 'xz', package: 'xz-utils' },
    { name: 'zstd', package: 'zstd' },
  ],
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
    const manifests: PkgManifest[] = [];
    for (const { name, pkg } of order) {
      const meta = new Map<string, Buffer>();
      const n = await extractArchive(inputs[name].path, ctx.outputs.tree, { devices: false, pkg }, ctx, meta);
      ctx.log.info(`${name}: ${n} entries`);
      if (pkg) manifests.push(readPkgManifest(meta, `step ${ctx.step} input ${name}`));
    }
    if (!manifests.length) return;
    const files = pkgRegistration(manifests);
    for (const [rel, { content, mode }] of Object.entries(files)) {
      await noSymlinkOnTheWay(ctx.outputs.tree, rel, ctx.step);
      await mkdir(join(ctx.outputs.tree, rel, '..'), { recursive: true, mode: 0o755 });
      await rm(join(ctx.outputs.tree, rel), { force: true });
      await writeFile(join(ctx.outputs.tree, rel), content, { mode });
      await chmod(join(ctx.outputs.tree, rel), mode);
    }
  },
});

/** The sets and packages are someone's archives: never write through a symlink one of them made. */
async function noSymlinkOnTheWay(root: string, rel: string, step: string) {
  let at = root;
  for (const part of rel.split('/')) {
    at = join(at, part);
    const st = await lstat(at).catch(ifMissing(undefined));
    if (!st) return;
    if (st.isSymbolicLink())
      throw errors.badValue(
        `step ${step}`,
        `${at.slice(root.length + 1)} is a symlink in the root; refusing to write through it`,
      );
  }
}
