// What the cpio and tar plugins share: their params, the libraries their bytes depend on, and
// the narrowing of a tree to one of its directories.
import { join } from 'node:path';
import { errors } from '../base/errors.js';
import type { TreeEntry } from '../core/plugin.js';
import { p } from '../core/schema.js';

/** gzip's bytes depend on the zlib build; the archive writers are pinned in package-lock.json. */
export const LIBRARIES = { zlib: process.versions.zlib };

export const archiveParams = {
  prefix: p.string().default('').describe("prepended to every entry name: '', './' or e.g. 'etc/'"),
  gzip: p.boolean().default(true),
  subdir: p
    .string({
      pattern: /^(?:[^/.][^/]*(?:\/[^/.][^/]*)*)?$/,
      what: "a relative directory of the tree ('' for all of it)",
    })
    .default('')
    .describe("pack only this directory of the tree (e.g. 'etc' of a rootfs), its entries named relative to it"),
};

/**
 * The part of a tree the archive holds: the whole tree, or one directory of it (FreeBSD's
 * conf/base/etc.cpio.gz is the root's etc/ alone). No copy is made: the manifest is narrowed.
 */
export function narrow(
  root: string,
  entries: TreeEntry[],
  subdir: string,
  step: string,
): { root: string; entries: TreeEntry[] } {
  if (!subdir) return { root, entries };
  const top = entries.find((e) => e.path === subdir);
  if (top?.type !== 'dir')
    throw errors.badValue(`step ${step} params.subdir`, `"${subdir}" is not a directory of the input tree`);
  const under = `${subdir}/`;
  const picked = entries
    .filter((e) => e.path === subdir || e.path.startsWith(under))
    .map((e) => ({ ...e, path: e.path === subdir ? '.' : e.path.slice(under.length) }));
  return { root: join(root, subdir), entries: picked };
}
