import { lstat, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../base/errors.js';
import { definePlugin } from '../core/plugin.js';
import { CONTROL_CHARS, p, sizeMiB } from '../core/schema.js';

/** 8 MiB holds a small ext4 file system with its journal; 16 TiB is ext4's limit without the 64bit feature. */
export const imageSize = p.size(8, 16 * 1024 * 1024);

/**
 * A sparse ext4 image of a tree, made with `mke2fs -d` (no loop mount). Reproducible: the UUID
 * and hash seed are params (recipes derive them from the host), E2FSPROGS_FAKE_TIME pins the
 * superblock and creation times, and a debugfs pass sets every inode's atime/ctime to
 * SOURCE_DATE_EPOCH and clamps mtimes to it (bookworm's mke2fs 1.47.0 copies them from the
 * tree and ignores SOURCE_DATE_EPOCH) and every mode to the manifest's (the cache stores a
 * tree's files without write bits). Checked with `e2fsck -fn`.
 */
export const ext4ImagePlugin = definePlugin({
  name: 'ext4-image',
  version: '1',
  description: 'a reproducible sparse ext4 image of a tree (mke2fs -d, debugfs, e2fsck -fn)',
  params: {
    size: imageSize,
    uuid: p.string({ pattern: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, what: 'a UUID' }),
    label: p.string({ pattern: /^[A-Za-z0-9_-]{1,16}$/, what: 'a label of up to 16 characters' }).default('netboot'),
  },
  inputs: ['tree'],
  produces: { image: 'file' },
  tools: [
    { name: 'mke2fs', package: 'e2fsprogs', versionArgs: ['-V'] },
    { name: 'debugfs', package: 'e2fsprogs', versionArgs: ['-V'] },
    { name: 'e2fsck', package: 'e2fsprogs', versionArgs: ['-V'] },
  ],
  async run(ctx) {
    const { size, uuid, label } = ctx.params;
    const bytes = sizeMiB(size) * 2 ** 20;
    const entries = await ctx.manifest('tree');
    // Data in 4 KiB blocks plus an inode each, against what the file system leaves for data
    // (inode tables and bitmaps take some 10%, the journal up to 64 MiB). mke2fs has the last word.
    const need = entries.reduce((s, e) => s + Math.ceil((e.size ?? 0) / 4096) * 4096 + 256, 0);
    if (need > bytes * 0.85 - (bytes >= 1 << 30 ? 64 << 20 : 4 << 20))
      throw errors.imageTooSmall(ctx.step, need, bytes);
    const tree = ctx.inputs.tree.path;
    const T = ctx.sourceDateEpoch;
    const fake = `E2FSPROGS_FAKE_TIME=${T}`;
    const out = ctx.outputs.image;
    try {
      const hashSeed = `hash_seed=${uuid}`;
      await ctx.$`env ${fake} mke2fs -q -F -t ext4 -d ${tree} -U ${uuid} -E ${hashSeed} -L ${label} ${out} ${size}`;
    } catch (e) {
      if (/Could not allocate|No space left/.test(String((e as { stderr?: string }).stderr ?? '')))
        throw errors.imageTooSmall(ctx.step, need, bytes);
      throw e;
    }
    const cmds: string[] = [];
    for (const e of entries) {
      const path = e.path === '.' ? '/' : `/${e.path}`;
      // One debugfs command per line: a name with a line break in it would be commands of its own
      // (dump writes host files).
      if (CONTROL_CHARS.test(path))
        throw errors.badValue(
          `step ${ctx.step} input tree`,
          `${JSON.stringify(path)} has a control character in its name; an ext4 image of it is refused`,
        );
      const q = `"${path.replace(/"/g, '""')}"`;
      cmds.push(`sif ${q} atime @${T}`, `sif ${q} ctime @${T}`);
      const st = await lstat(join(tree, e.path));
      if (st.mtimeMs / 1000 > T) cmds.push(`sif ${q} mtime @${T}`);
      // mke2fs took the mode from the tree, where the cache keeps files read-only: the manifest's is the true one.
      if ((st.mode & 0o7777) !== e.mode) cmds.push(`sif ${q} mode 0${((st.mode & ~0o7777) | e.mode).toString(8)}`);
    }
    const cmdFile = join(ctx.tmp, 'debugfs.cmds');
    await writeFile(cmdFile, `${cmds.join('\n')}\n`);
    const errFile = join(ctx.tmp, 'debugfs.err');
    await ctx.$`env ${fake} debugfs -w -f ${cmdFile} ${out} > /dev/null 2> ${errFile}`;
    const problems = (await readFile(errFile, 'utf8')).split('\n').filter((l) => l && !/^debugfs \d/.test(l));
    if (problems.length) throw new Error(`debugfs: ${problems.slice(0, 3).join(' | ')}`);
    await ctx.$`e2fsck -fn ${out}`;
  },
});
