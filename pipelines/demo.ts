import type { HostInfo } from '../core/plugin.js';
import { type ArtifactRef, defineRecipe } from '../core/recipe.js';
import { p } from '../core/schema.js';
import { plugins } from '../plugins/index.js';

const INIT = `#!/bin/sh
# netboot demo initramfs: mounts the kernel's file systems and greets.
mount -t proc proc /proc
mount -t sysfs sys /sys
cat /etc/motd
exec /bin/sh
`;

function pxelinuxEntry(host: HostInfo, args: string): string {
  return [
    `# ${host.name} (${host.mac}, ${host.ip}): written by netboot`,
    'DEFAULT demo',
    'LABEL demo',
    `  KERNEL ${host.name}/vmlinuz`,
    `  INITRD ${host.name}/initrd.img`,
    `  APPEND ${['console=ttyS0', 'rdinit=/init', args].filter(Boolean).join(' ')}`,
    '',
  ].join('\n');
}

/**
 * A small recipe that exercises the engine end to end without a Debian mirror: a config tree
 * (optionally overlaid with a local directory) packed as a newc initramfs and a tarball, and a
 * TFTP tree with the host's pxelinux entry. The Debian NBD recipe builds on the same plugins.
 */
export const demoRecipe = defineRecipe({
  name: 'demo',
  description: 'config tree -> newc initramfs + tarball + pxelinux entry (no mirror needed)',
  params: {
    motd: p.string().default('Booted by netboot.\n'),
    // Written into the pxelinux entry's APPEND line: a newline would add LABEL or KERNEL lines.
    kernelArgs: p.line('a kernel command line (one line, no control characters)').default(''),
    overlay: p.optional(p.localDir().describe('a local directory laid over the tree')),
  },
  build(r, params, host) {
    const config = r.step('config', plugins.files, {
      params: {
        files: {
          init: { content: INIT, mode: 0o755 },
          'etc/hostname': { content: `${host.name}\n` },
          'etc/hosts': { content: `127.0.0.1 localhost\n${host.ip} ${host.name}\n` },
          'etc/motd': { content: params.motd },
          'bin/.keep': { content: '' },
          proc: { symlink: '/proc-placeholder' },
        },
      },
    });
    let rootfs: ArtifactRef = config.out('tree');
    if (params.overlay) {
      const src = r.step('overlay-src', plugins.sourceTree, { params: { path: params.overlay } });
      rootfs = r.step('rootfs', plugins.merge, { inputs: { base: rootfs, overlay: src.out('tree') } }).out('tree');
    }
    const initrd = r.step('initrd', plugins.cpio, { params: { format: 'newc' }, inputs: { tree: rootfs } });
    const tarball = r.step('rootfs-tar', plugins.tar, { params: { prefix: './' }, inputs: { tree: rootfs } });
    const entry = r.step('pxelinux-entry', plugins.text, {
      params: { content: pxelinuxEntry(host, params.kernelArgs) },
    });
    const mac = `01-${host.mac.replace(/:/g, '-')}`;
    const tftp = r.step('tftp', plugins.assemble, {
      params: { layout: { [`pxelinux.cfg/${mac}`]: 'entry', 'initrd.img': 'initrd' } },
      inputs: { entry: entry.out('file'), initrd: initrd.out('archive') },
    });
    return {
      publish: [
        { target: 'tftp', path: '.', from: tftp.out('tree') },
        { target: 'tftp', path: 'rootfs.tar.gz', from: tarball.out('archive') },
      ],
      links: [{ target: 'tftp', path: `pxelinux.cfg/${mac}`, to: `pxelinux.cfg/${mac}` }],
    };
  },
});
