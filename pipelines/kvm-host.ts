import type { HostInfo } from '../core/plugin.js';
import { defineRecipe, type RecipeBuilder } from '../core/recipe.js';
import { p, type ShapeOut } from '../core/schema.js';
import { debianIscsiPlugin, iscsiParams } from '../plugins/debian/iscsi.js';
import { bootLinks, dhcpBootFiles, hostFirmware, loaderParams, pxelinuxTreePlugin } from '../plugins/pxelinux-tree.js';
import { serverConfigsPlugin } from '../plugins/server-configs/index.js';
import { debianParams, debianRoot } from './debian.js';

const iscsi = p.object(iscsiParams);

const nfsRootParams = {
  ...debianParams,
  /** Storage for VMs or containers on an iSCSI disk, mounted with _netdev. */
  iscsi: p.optional(iscsi),
  /** Extra nfsroot= options (klibc nfsmount: NFSv3, no locking). */
  nfsOptions: p.string({ pattern: /^[a-z0-9=,]*$/, what: 'nfsroot options' }).default('vers=3,tcp,nolock'),
  /**
   * rw: a private read-write root per host. overlay: the root is exported read-only and the host
   * runs on a tmpfs overlay over it (its writes vanish at reboot; one root can serve many hosts).
   */
  rootMode: p.enum(['rw', 'overlay'] as const).default('rw'),
};

/**
 * A Debian server whose root is a read-write directory on the SAN's NFS export: the shared Debian
 * steps (the same suite and mirror hit the same cached base as debian-bullseye-nbd), an initrd that
 * mounts `nfsroot=` (boot=nfs), the recipe's own packages, and optionally an iSCSI disk for its
 * payload. Used by kvm-host and lxc-host, which differ in packages and mount point only.
 */
function nfsRootHost(
  r: RecipeBuilder,
  params: ShapeOut<typeof nfsRootParams>,
  host: HostInfo,
  o: { packages: string[]; storage: string },
) {
  const overlay = params.rootMode === 'overlay';
  const { rootfs, vmlinuz, initrd, packageManifest } = debianRoot(r, params, host, {
    packages: ['nfs-common', 'open-iscsi', ...o.packages],
    // The initramfs mounted / from nfsroot=; nothing for systemd to remount.
    fstab: 'proc /proc proc defaults 0 0\n',
    initrdRequires: [
      'scripts/nfs',
      'nfs.ko',
      ...(overlay ? ['scripts/init-bottom/netboot-overlay', 'overlay.ko'] : []),
    ],
    overlayRoot: overlay,
  });
  let root = rootfs;
  if (params.iscsi)
    root = r
      .step('iscsi', debianIscsiPlugin, { params: { ...params.iscsi, mount: o.storage }, inputs: { tree: rootfs } })
      .out('tree');
  const rootPath = `${host.san.nfs}/${host.name}/root`;
  const append = [
    'root=/dev/nfs',
    `nfsroot=${host.server}:${rootPath}${params.nfsOptions ? `,${params.nfsOptions}` : ''}`,
    'boot=nfs',
    'ip=dhcp',
    ...(overlay ? ['ro', 'netboot.overlay'] : ['rw']),
    'console=ttyS0',
    params.kernelArgs,
  ]
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
  const configs = r.step('server-configs', serverConfigsPlugin, {
    params: {
      name: host.name,
      mac: host.mac,
      ip: host.ip,
      server: host.server,
      ...dhcpBootFiles(host),
      tftpRoot: host.san.tftp,
      nfsRoot: rootPath,
      nfsReadOnly: overlay,
    },
  });
  return {
    publish: [
      { target: 'tftp' as const, path: '.', from: tftp.out('tree') },
      // rw: a private copy per host, kept (with what the host wrote) across publishes of other
      // changes. overlay: read-only, hardlinked from the cache like any read-only content.
      { target: 'nfs' as const, path: 'root', from: root, writable: !overlay },
      { target: 'conf' as const, path: '.', from: configs.out('tree') },
      packageManifest,
    ],
    links: bootLinks(host),
  };
}

export const kvmHost = defineRecipe({
  name: 'kvm-host',
  description: 'Debian NFS-root KVM server (qemu, libvirt), VM images on an iSCSI disk',
  params: nfsRootParams,
  build: (r, params, host) =>
    nfsRootHost(r, params, host, {
      packages: ['qemu-system-x86', 'libvirt-daemon-system', 'libvirt-clients'],
      storage: '/var/lib/libvirt/images',
    }),
});

export const lxcHost = defineRecipe({
  name: 'lxc-host',
  description: 'Debian NFS-root LXC server, containers on an iSCSI disk',
  params: nfsRootParams,
  build: (r, params, host) => nfsRootHost(r, params, host, { packages: ['lxc'], storage: '/var/lib/lxc' }),
});
