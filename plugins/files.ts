import { chmod, chown, lchown, lstat, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { ifMissing } from '../base/errno.js';
import { errors } from '../base/errors.js';
import { definePlugin } from '../core/plugin.js';
import { p } from '../core/schema.js';

const entry = p.object({
  content: p.optional(p.string()),
  /** A symlink target instead of content. */
  symlink: p.optional(p.string()),
  mode: p.number({ integer: true, min: 0, max: 0o7777 }).default(0o644),
  uid: p.number({ integer: true, min: 0 }).default(0),
  gid: p.number({ integer: true, min: 0 }).default(0),
});

/** Checks a tree-relative path: no absolute names, no '..', no empty parts. */
export function safeRelative(path: string, where: string): string {
  const n = normalize(path);
  if (path.startsWith('/') || n.startsWith('..') || n === '.' || n.includes('\0'))
    throw errors.badValue(where, `"${path}" is not a relative path inside the tree`);
  return n;
}

/** A tree written from its description: files with contents, modes and owners, and symlinks. */
export const filesPlugin = definePlugin({
  name: 'files',
  version: '1',
  description: 'a tree of small files (and symlinks) given inline',
  params: { files: p.record(entry), dirMode: p.number({ integer: true }).default(0o755) },
  produces: { tree: 'tree' },
  async run(ctx) {
    const root = ctx.outputs.tree;
    await chmod(root, ctx.params.dirMode);
    for (const [path, f] of Object.entries(ctx.params.files).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const dest = join(root, safeRelative(path, `step ${ctx.step} params.files`));
      await mkdirs(root, dirname(dest), ctx.params.dirMode);
      if (f.symlink !== undefined) {
        await symlink(f.symlink, dest);
        await lchown(dest, f.uid, f.gid);
        continue;
      }
      await writeFile(dest, f.content ?? '');
      await chown(dest, f.uid, f.gid);
      await chmod(dest, f.mode);
    }
  },
});

/** Creates the parents of a path inside the tree, refusing to pass through a symlink (which could lead outside it). */
async function mkdirs(root: string, dir: string, mode: number) {
  if (dir === root) return;
  await mkdirs(root, dirname(dir), mode);
  const st = await lstat(dir).catch(ifMissing(undefined));
  if (st?.isSymbolicLink())
    throw errors.badValue(dir.slice(root.length + 1), 'a file cannot be placed below a symlink of the same tree');
  if (st) return;
  await mkdir(dir);
  await chmod(dir, mode);
}
