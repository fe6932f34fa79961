import { chmod, lchown, lstat, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ifMissing } from '../../base/errno.js';
import { errors } from '../../base/errors.js';
import { definePlugin } from '../../core/plugin.js';
import { p } from '../../core/schema.js';
import { mountPoint, rcLines, rcVars, renderFstabsScript, renderIscsiWaitScript } from './rc-files.js';

/**
 * The parts of a FreeBSD diskless jail host that every host booting this root shares, in a copy
 * of the extracted root: rc.conf (services), /etc/diskless, the iSCSI mount point, ezjail's
 * config on the iSCSI disk, the rc.d script that keeps jail fstabs, loader.conf. Nothing here
 * names a host: hostnames, addresses and the iSCSI target are per host, in /conf/<ip>/etc
 * (freebsd-conf), so one root serves several hosts and a host's change never rebuilds it.
 */
export const freebsdCustomizePlugin = definePlugin({
  name: 'freebsd-customize',
  version: '2',
  description: 'rc.conf, /etc/diskless, ezjail on iSCSI, jail fstab keeper and loader.conf in a copy of a FreeBSD root',
  params: {
    sshd: p.boolean().default(true),
    /** Where the iSCSI disk is mounted; ezjail's jails and config live below it. */
    iscsiMount: mountPoint.default('/iscsi'),
    /** More rc.conf settings shared by every host of this root (they win over netboot's). */
    rcConf: rcVars.default({}),
    loaderConf: rcVars.default({ autoboot_delay: '3' }),
    /**
     * Seconds to wait at boot for the iSCSI session (`iscsictl -Aa -w`, iscsictl(8)) and then for
     * its disk's device node: without a wait, mountlate may run before /dev/da0 exists.
     */
    iscsiWait: p.number({ integer: true, min: 1, max: 3600 }).default(60),
  },
  inputs: ['root'],
  produces: { tree: 'tree' },
  async run(ctx) {
    const out = ctx.outputs.tree;
    const { iscsiMount, sshd } = ctx.params;
    const jaildir = `${iscsiMount}/jails`;
    await ctx.copyTree('root', out);
    for (const dir of ['etc', 'boot', 'usr/local/etc/rc.d', iscsiMount.slice(1)]) await noSymlinks(out, dir, ctx.step);
    const rc = {
      // The root is NFS, exported read-only: rc.d/root must not try to remount it read-write.
      root_rw_mount: 'NO',
      sshd_enable: sshd ? 'YES' : 'NO',
      iscsid_enable: 'YES',
      iscsictl_enable: 'YES',
      // -w: wait for the sessions instead of returning while they connect in the background.
      iscsictl_flags: `-Aa -w ${ctx.params.iscsiWait}`,
      netboot_iscsi_enable: 'YES',
      netboot_iscsi_wait: String(ctx.params.iscsiWait),
      ezjail_enable: 'YES',
      netboot_fstabs_enable: 'YES',
      netboot_fstabs_mount: iscsiMount,
      ...ctx.params.rcConf,
    };
    const head =
      '# Written by netboot (freebsd-customize). Per-host settings (hostname, addresses, router)\n' +
      '# are in /etc/rc.conf.local, from /conf/<ip>/etc.\n';
    await put(out, 'etc/rc.conf', `${head + rcLines(rc, `step ${ctx.step} params.rcConf`).join('\n')}\n`);
    // /etc/rc runs rc.initdiskless when this exists, whatever the kernel says.
    await put(out, 'etc/diskless', '');
    await put(
      out,
      'boot/loader.conf',
      '# Written by netboot (freebsd-customize).\n' +
        rcLines(ctx.params.loaderConf, `step ${ctx.step} params.loaderConf`).join('\n') +
        '\n',
    );
    await put(
      out,
      'usr/local/etc/ezjail.conf',
      `# Written by netboot: jails live on the iSCSI disk.\nezjail_jaildir=${jaildir}\n`,
    );
    await put(out, 'usr/local/etc/rc.d/netboot_fstabs', renderFstabsScript(iscsiMount), 0o555);
    await put(out, 'usr/local/etc/rc.d/netboot_iscsi', renderIscsiWaitScript(), 0o555);
    // ezjail's per-jail config next to the jails on the iSCSI disk, so it survives the memory /etc and a new root.
    const link = join(out, 'usr/local/etc/ezjail');
    await rm(link, { recursive: true, force: true });
    await symlink(`${jaildir}/etc/ezjail`, link);
    await lchown(link, 0, 0);
    // The mount point rc.initdiskless puts conf/base/iscsi's memory disk on.
    await mkdir(join(out, iscsiMount.slice(1)), { recursive: true, mode: 0o755 });
  },
});

/** The extracted root is someone's archive: never write through one of its symlinks. */
async function noSymlinks(root: string, rel: string, step: string) {
  let at = root;
  for (const part of rel.split('/')) {
    at = join(at, part);
    if ((await lstat(at).catch(ifMissing(undefined)))?.isSymbolicLink())
      throw errors.badValue(
        `step ${step}`,
        `${at.slice(root.length + 1)} is a symlink in the root; refusing to write through it`,
      );
  }
}

async function put(root: string, rel: string, content: string, mode = 0o644) {
  const dest = join(root, rel);
  await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
  await rm(dest, { force: true });
  await writeFile(dest, content, { mode });
  await chmod(dest, mode);
}
