import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { definePlugin } from '../core/plugin.js';
import { p } from '../core/schema.js';

const PXELINUX = '/usr/lib/PXELINUX/pxelinux.0';
const MODULES = '/usr/lib/syslinux/modules/bios';
const C32 = ['ldlinux.c32', 'menu.c32', 'libutil.c32', 'libcom32.c32'];

/**
 * A host's TFTP directory: its own pxelinux.0 and modules (from Debian's pxelinux and
 * syslinux-common), its kernel and initrd, and its config. Booted as `<host>/pxelinux.0`,
 * PXELINUX looks for `<host>/pxelinux.cfg/01-<mac>` and resolves KERNEL/INITRD in `<host>/`
 * (its path prefix), so each host's directory is whole on its own and switches atomically.
 */
export const pxelinuxTreePlugin = definePlugin({
  name: 'pxelinux-tree',
  version: '1',
  description: "a host's TFTP directory: pxelinux.0, modules, kernel, initrd, pxelinux.cfg",
  params: {
    mac: p.mac(),
    label: p.string({ pattern: /^[A-Za-z0-9_.-]+$/, what: 'a label' }),
    // A control character would end the APPEND line, and what follows would be pxelinux directives.
    append: p.line('a kernel command line (one line, no control characters)'),
    serial: p.boolean().default(true),
  },
  inputs: ['vmlinuz', 'initrd'],
  produces: { tree: 'tree' },
  // The boot loader files are local inputs: a syslinux upgrade changes the key.
  sources: () => [PXELINUX, ...C32.map((m) => `${MODULES}/${m}`)],
  hostFiles: [
    { path: PXELINUX, package: 'pxelinux' },
    ...C32.map((m) => ({ path: `${MODULES}/${m}`, package: 'syslinux-common' })),
  ],
  async run(ctx) {
    const out = ctx.outputs.tree;
    await chmod(out, 0o755);
    await mkdir(join(out, 'pxelinux.cfg'));
    await copyFile(PXELINUX, join(out, 'pxelinux.0'));
    for (const m of C32) await copyFile(`${MODULES}/${m}`, join(out, m));
    await copyFile(ctx.inputs.vmlinuz.path, join(out, 'vmlinuz'));
    await copyFile(ctx.inputs.initrd.path, join(out, 'initrd.img'));
    const { mac, label, append, serial } = ctx.params;
    const cfg = [
      '# written by netboot',
      ...(serial ? ['SERIAL 0 115200'] : []),
      `DEFAULT ${label}`,
      'PROMPT 0',
      'TIMEOUT 0',
      `LABEL ${label}`,
      '  KERNEL vmlinuz',
      '  INITRD initrd.img',
      `  APPEND ${append}`,
      '',
    ].join('\n');
    await writeFile(join(out, `pxelinux.cfg/01-${mac.replace(/:/g, '-')}`), cfg);
    // Any other machine that boots this directory gets the same entry.
    await writeFile(join(out, 'pxelinux.cfg/default'), cfg);
    for (const f of ['pxelinux.0', ...C32, 'vmlinuz', 'initrd.img']) await chmod(join(out, f), 0o644);
  },
});
