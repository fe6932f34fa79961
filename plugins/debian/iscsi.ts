import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ifMissing, isErrno } from '../../base/errno.js';
import { definePlugin } from '../../core/plugin.js';
import { p, type ShapeOut } from '../../core/schema.js';
import { sh } from './chroot.js';

/**
 * The iSCSI values a config gives (kvm-host's `iscsi`, this plugin's params): checked when the
 * config is read, so a bad one is refused naming its field before anything is built.
 */
export const iscsiParams = {
  portal: p.string({ pattern: /^\d+\.\d+\.\d+\.\d+(:\d+)?$/, what: 'an IPv4 portal (ip or ip:port)' }),
  target: p.string({
    pattern: /^(iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:[A-Za-z0-9.:_-]+)?|eui\.[0-9A-Fa-f]{16})$/,
    what: 'an iSCSI target name (iqn.YYYY-MM.reverse.domain:name)',
  }),
  /** tgt (the SAN's target) keeps LUN 0 for its controller: the first disk is LUN 1. */
  lun: p.number({ integer: true, min: 0 }).default(1),
  fsType: p.string({ pattern: /^[a-z0-9]+$/, what: 'a file system type' }).default('ext4'),
  chapUser: p.optional(p.string({ pattern: /^[A-Za-z0-9._@:-]+$/, what: 'a CHAP user name' })),
  /** Where the booted host finds the CHAP secret (provisioned outside netboot; never in the cache). */
  secretFile: p.absPath('an absolute path on the booted host').default('/etc/iscsi/netboot-chap-secret'),
};

/**
 * The boot script that writes the node record. Every value is a quoted word (`sh`), so a path
 * with a quote in it is that path, not the end of a string.
 */
export function renderIscsiNodeScript(
  o: Pick<ShapeOut<typeof iscsiParams>, 'portal' | 'target' | 'chapUser' | 'secretFile'>,
): string {
  const [ip, port = '3260'] = o.portal.split(':');
  const node = sh`iscsiadm -m node -T ${o.target} -p ${`${ip}:${port}`}`;
  return [
    '#!/bin/sh',
    '# netboot: create the node record at boot (it holds the CHAP password, which is not in the image)',
    'set -e',
    `${node} >/dev/null 2>&1 || ${sh`iscsiadm -m node -o new -T ${o.target} -p ${`${ip}:${port}`}`}`,
    `${node} -o update -n node.startup -v automatic`,
    ...(o.chapUser
      ? [
          `${node} -o update -n node.session.auth.authmethod -v CHAP`,
          `${node} -o update -n node.session.auth.username -v ${sh`${o.chapUser}`}`,
          sh`[ -r ${o.secretFile} ] || { echo "netboot: "${o.secretFile}` +
            '" is missing: put the CHAP secret there" >&2; exit 1; }',
          `${node} -o update -n node.session.auth.password -v "$(cat ${sh`${o.secretFile}`})"`,
        ]
      : []),
    `${node} --login || true`,
    '',
  ].join('\n');
}

/**
 * An iSCSI disk mounted at boot on a diskless Debian host: open-iscsi logs in to the configured
 * target (node record written at first boot by a oneshot unit, since a node record holds the
 * CHAP password), and the disk is mounted with `_netdev` at `mount`. The CHAP secret never comes
 * from the config or the cache: the unit reads it from `secretFile` on the host, which the SAN
 * operator provisions.
 */
export const debianIscsiPlugin = definePlugin({
  name: 'debian-iscsi',
  version: '4',
  description: 'open-iscsi login at boot and a _netdev mount for a VM/container store',
  params: {
    ...iscsiParams,
    mount: p.string({ pattern: /^\/[A-Za-z0-9._/-]+$/, what: 'an absolute mount point' }),
  },
  inputs: ['tree'],
  produces: { tree: 'tree' },
  async run(ctx) {
    const R = ctx.outputs.tree;
    const { portal, target, lun, mount, fsType, chapUser, secretFile } = ctx.params;
    await ctx.copyTree('tree', R);
    const [ip, port = '3260'] = portal.split(':');
    const put = async (path: string, content: string, mode = 0o644) => {
      await mkdir(join(R, path, '..'), { recursive: true });
      await writeFile(join(R, path), content);
      await chmod(join(R, path), mode);
    };
    await put(
      'usr/local/sbin/netboot-iscsi-node',
      renderIscsiNodeScript({ portal, target, chapUser, secretFile }),
      0o755,
    );
    await put(
      'etc/systemd/system/netboot-iscsi-node.service',
      '[Unit]\nDescription=netboot: iSCSI node record and login\nAfter=network-online.target iscsid.service\n' +
        'Wants=network-online.target iscsid.service\nBefore=remote-fs-pre.target\n\n' +
        '[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/local/sbin/netboot-iscsi-node\n\n' +
        '[Install]\nWantedBy=remote-fs.target\n',
    );
    await mkdir(join(R, 'etc/systemd/system/remote-fs.target.wants'), { recursive: true });
    await symlink(
      '/etc/systemd/system/netboot-iscsi-node.service',
      join(R, 'etc/systemd/system/remote-fs.target.wants/netboot-iscsi-node.service'),
    ).catch((e: unknown) => {
      if (!isErrno(e, 'EEXIST')) throw e; // already enabled
    });
    // Once the disk is mounted, one line on the console says so (what the boot test waits for).
    await put('etc/systemd/system/netboot-iscsi-mounted.service', renderMountedUnit(mount));
    await mkdir(join(R, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
    await symlink(
      '/etc/systemd/system/netboot-iscsi-mounted.service',
      join(R, 'etc/systemd/system/multi-user.target.wants/netboot-iscsi-mounted.service'),
    ).catch((e: unknown) => {
      if (!isErrno(e, 'EEXIST')) throw e;
    });
    await mkdir(join(R, mount.slice(1)), { recursive: true });
    const dev = `/dev/disk/by-path/ip-${ip}:${port}-iscsi-${target}-lun-${lun}`;
    const fstab = await readFile(join(R, 'etc/fstab'), 'utf8').catch(ifMissing(''));
    await put(
      'etc/fstab',
      `${fstab}${fstab && !fstab.endsWith('\n') ? '\n' : ''}${dev} ${mount} ${fsType} _netdev,nofail 0 2\n`,
    );
  },
});

/** A oneshot unit that prints `netboot: iscsi disk mounted: SOURCE FSTYPE TARGET` on the console. */
export function renderMountedUnit(mount: string): string {
  return [
    '[Unit]',
    'Description=netboot: report the iSCSI disk mount',
    `RequiresMountsFor=${mount}`,
    `ConditionPathIsMountPoint=${mount}`,
    '',
    '[Service]',
    'Type=oneshot',
    'StandardOutput=journal+console',
    // `$$`: systemd's own expansion leaves one `$` for the shell.
    `ExecStart=/bin/sh -c 'echo "netboot: iscsi disk mounted: $$(findmnt -n -o SOURCE,FSTYPE,TARGET ${mount})"'`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
