import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { definePlugin } from '../../core/plugin.js';
import { p } from '../../core/schema.js';
import { inChroot } from './chroot.js';

/**
 * The kernel and a freshly generated initrd of a Debian tree. mkinitramfs runs chrooted (it takes
 * modules from the tree's /lib/modules) over an overlay of the read-only input, so nothing is
 * copied and nothing in the input changes. The initrd is checked with lsinitramfs for what the
 * root needs, whatever the suite's layout: a module `x.ko` may be `x.ko.xz` or `x.ko.zst` (trixie),
 * a program in bin/ may be in usr/bin/ (merged /usr); grep is required where the tree's nbd-client
 * script calls it (bullseye, bookworm), not where it does not (trixie).
 */
export const debianKernelPlugin = definePlugin({
  name: 'debian-kernel',
  version: '2',
  description: 'vmlinuz and a new initrd (mkinitramfs, checked with lsinitramfs) from a Debian tree',
  params: {
    require: p.array(p.string()).default(['scripts/local-top/nbd', 'sbin/nbd-client', 'kernel/drivers/block/nbd.ko']),
  },
  inputs: ['tree'],
  produces: { vmlinuz: 'file', initrd: 'file', modules: 'file' },
  tools: [
    { name: 'unshare', package: 'util-linux' },
    { name: 'chroot', package: 'coreutils' },
  ],
  async run(ctx) {
    const merged = join(ctx.tmp, 'merged');
    const upper = join(ctx.tmp, 'upper');
    await inChroot(
      ctx.$,
      merged,
      [
        'KVER=$(ls /lib/modules | sort -V | tail -n 1)',
        'test -n "$KVER" || { echo "no kernel in /lib/modules: install linux-image-*" >&2; exit 1; }',
        'mkdir -p /netboot-out',
        'mkinitramfs -o /netboot-out/initrd.img "$KVER"',
        'lsinitramfs /netboot-out/initrd.img > /netboot-out/initrd.list',
        'cp /boot/vmlinuz-"$KVER" /netboot-out/vmlinuz',
        'echo "$KVER" > /netboot-out/version',
        // The nbd-client script (if any) decides whether the initrd needs grep.
        'if grep -qw grep /usr/share/initramfs-tools/scripts/local-top/nbd 2>/dev/null; then : > /netboot-out/grep; fi',
      ].join('\n'),
      { lower: ctx.inputs.tree.path, upper, work: join(ctx.tmp, 'work') },
    );
    const out = join(upper, 'netboot-out');
    const list = (await readFile(join(out, 'initrd.list'), 'utf8')).split('\n');
    const needsGrep = await readFile(join(out, 'grep')).then(
      () => true,
      () => false,
    );
    const require = [...ctx.params.require, ...(needsGrep ? ['bin/grep'] : [])];
    const missing = require.filter((r) => !list.some((l) => initrdHas(l, r)));
    if (missing.length) throw new Error(`the initrd lacks ${missing.join(', ')} (lsinitramfs)`);
    ctx.log.info(
      `kernel ${(await readFile(join(out, 'version'), 'utf8')).trim()}; initrd has ${list.length - 1} entries`,
    );
    await copyFile(join(out, 'vmlinuz'), ctx.outputs.vmlinuz);
    await copyFile(join(out, 'initrd.img'), ctx.outputs.initrd);
    await copyFile(join(out, 'initrd.list'), ctx.outputs.modules);
  },
});

/** Whether an lsinitramfs line is the required path, allowing for compressed modules and merged /usr. */
export function initrdHas(line: string, required: string): boolean {
  const forms = [required, required.replace(/^(s?bin)\//, 'usr/$1/')];
  if (required.endsWith('.ko')) forms.push(...forms.flatMap((f) => [`${f}.xz`, `${f}.zst`, `${f}.gz`]));
  return forms.some((f) => line === f || line.endsWith(`/${f}`));
}
