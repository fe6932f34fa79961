import { defineRecipe } from '../core/recipe.js';
import { p } from '../core/schema.js';
import { ext4ImagePlugin, imageSize } from '../plugins/ext4-image.js';
import { bootLinks, dhcpBootFiles, hostFirmware, loaderParams, pxelinuxTreePlugin } from '../plugins/pxelinux-tree.js';
import { NBD_DEFAULT_PORT, nbdRootArg, serverConfigsPlugin } from '../plugins/server-configs/index.js';
import { debianParams, debianRoot, hostUuid } from './debian.js';

/**
 * A diskless Debian whose root is an ext4 image served by nbd-server. The initrd carries
 * nbd-client (and grep where the suite's nbd script calls it); pxelinux boots the host from
 * `<host>/pxelinux.0` with `root=/dev/nbd0 nbdroot=...`; the image is published as a writable
 * disk and nbd-server serves the live path.
 */
export const debianBullseyeNbd = defineRecipe({
  name: 'debian-bullseye-nbd',
  description:
    'Debian (bullseye, bookworm, trixie) with an NBD root: mmdebstrap, apt, mkinitramfs, mke2fs -d, pxelinux',
  params: {
    ...debianParams,
    imageSize: imageSize.default('2G'),
    /** The export name clients ask nbd-server for (default: the host name). */
    exportName: p.optional(p.string({ pattern: /^[A-Za-z0-9._-]+$/, what: 'an export name' })),
    nbdPort: p.number({ integer: true, min: 1, max: 65535 }).default(NBD_DEFAULT_PORT),
  },
  build(r, params, host) {
    const { rootfs, vmlinuz, initrd, packageManifest } = debianRoot(r, params, host, {
      packages: ['nbd-client'],
      fstab: '/dev/nbd0 / ext4 remount,noatime,nodiratime 0 0\n',
    });
    const image = r.step('image', ext4ImagePlugin, {
      params: { size: params.imageSize, uuid: hostUuid(host.name, 'root'), label: 'nbdroot' },
      inputs: { tree: rootfs },
    });
    // One description of the host's servers: the boot entry's nbdroot= and the server configs agree by construction.
    const servers = {
      name: host.name,
      mac: host.mac,
      ip: host.ip,
      server: host.server,
      ...dhcpBootFiles(host),
      tftpRoot: host.san.tftp,
      nbd: {
        export: params.exportName ?? host.name,
        port: params.nbdPort,
        // The live paths: nbd-server opens them at connect, so a publish switches what new clients get.
        image: `${host.san.nbd}/${host.name}/disk.img`,
        authfile: `${host.san.conf}/${host.name}/nbd-server/allow/${host.name}`,
      },
    };
    const append = ['root=/dev/nbd0', nbdRootArg(servers), 'ip=dhcp', 'rw', 'console=ttyS0', params.kernelArgs]
      .filter(Boolean)
      .join(' ');
    const tftp = r.step('tftp', pxelinuxTreePlugin, {
      params: {
        mac: host.mac,
        label: host.name.replace(/[^A-Za-z0-9_.-]/g, '_'),
        append,
        firmware: hostFirmware(host),
        ...loaderParams(host),
      },
      inputs: { vmlinuz, initrd },
    });
    const configs = r.step('server-configs', serverConfigsPlugin, { params: servers });
    return {
      publish: [
        { target: 'tftp', path: '.', from: tftp.out('tree') },
        { target: 'nbd', path: 'disk.img', from: image.out('image'), writable: true },
        { target: 'conf', path: '.', from: configs.out('tree') },
        packageManifest,
      ],
      links: bootLinks(host),
    };
  },
});
