import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errors } from '../../base/errors.js';
import { definePlugin } from '../../core/plugin.js';
import { p } from '../../core/schema.js';
import { checked, checks } from '../safe-values.js';
import { checkChapSecret, mountPoint, rcLines, rcVars, renderIscsiConf } from './rc-files.js';

const ipv4 = p.ipv4();
const sectors = (d: number) =>
  p.number({ integer: true, min: 2048 }).default(d).describe('memory disk size in 512-byte sectors');
const word = (what: string) => p.string({ pattern: /^[A-Za-z0-9][A-Za-z0-9._:-]*$/, what });

export const jail = p.object({
  /** ezjail's jail name; its fstab is /etc/fstab.<name with every other character as '_'>. */
  name: p.string({
    pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/,
    what: "a jail name (letters, digits, '.', '_', '-')",
  }),
  ip: ipv4,
});

export const iscsiTarget = p.object({
  /** host:port of the target portal. */
  portal: p.string({ pattern: /^[A-Za-z0-9.-]+(?::\d{1,5})?$/, what: 'a portal (address or address:port)' }),
  target: word('an iSCSI target name (iqn....)'),
  /** The disk iscsictl makes appear (a diskless host has no disks of its own: da0 is the first LUN). */
  device: p.string({ pattern: /^\/dev\/[A-Za-z0-9/._-]+$/, what: 'a device path under /dev' }).default('/dev/da0'),
  fsType: p.string({ pattern: /^[a-z0-9]+$/, what: 'a file system type' }).default('ufs'),
  chapUser: p.optional(word('a CHAP user name')),
  /**
   * A file on the build machine (relative to the config) holding the CHAP secret: kept out of
   * the config, which is shared and versioned. Its digest enters the key only as an HMAC under
   * the cache's key, so a new secret rebuilds this step; the secret itself lands only in this
   * host's /conf/<ip>/etc/iscsi.conf (mode 0600, with a keyed salt line so that the file's own
   * digest reveals nothing), the one place a diskless host can read it from before its disk is
   * attached.
   */
  secretFile: p.optional(p.string()),
});

/**
 * The /conf tree rc.initdiskless reads: conf/base/{etc,var}.cpio.gz (from the root's own etc/ and
 * var/), each memory disk's md_size, conf/base/iscsi/ (a writable memory
 * disk the iSCSI disk is mounted over) and, for this host, conf/<ip>/etc/: rc.conf.local (name,
 * router, jail aliases), fstab (root, iSCSI disk with `late`) and iscsi.conf. A changed alias or
 * jail re-runs this step only: the root and its archives stay cached.
 */
export const freebsdConfPlugin = definePlugin({
  name: 'freebsd-conf',
  version: '2',
  description: "FreeBSD diskless /conf: base etc/var archives and md sizes, this host's conf/<ip>/etc",
  params: {
    hostname: p.hostName(),
    ip: ipv4,
    /** The NIC the host boots from: the kernel configured it from the PXE boot; jail aliases go on it. */
    interface: p
      .string({ pattern: /^[a-z]+[0-9]+$/, what: 'a FreeBSD interface name (em0, vtnet0, igb0)' })
      .default('em0'),
    gateway: p.optional(ipv4),
    jails: p.array(jail).default([]),
    /** The NFS root as this host mounts it, for its fstab. */
    nfsServer: ipv4,
    nfsRoot: checked(checks.absPath),
    iscsi: iscsiTarget,
    iscsiMount: mountPoint.default('/iscsi'),
    etcMdSize: sectors(20480),
    varMdSize: sectors(65536),
    iscsiMdSize: sectors(2048),
    /** More per-host rc.conf settings, in rc.conf.local. */
    rcConf: rcVars.default({}),
  },
  inputs: ['etc', 'var'],
  produces: { tree: 'tree' },
  sources: (params) => (params.iscsi.secretFile ? [params.iscsi.secretFile] : []),
  secretSources: (params) => (params.iscsi.secretFile ? [params.iscsi.secretFile] : []),
  async run(ctx) {
    const o = ctx.params;
    const out = ctx.outputs.tree;
    const where = `step ${ctx.step} params`;
    await chmod(out, 0o755);
    const put = async (rel: string, content: string, mode = 0o644) => {
      await mkdir(dirname(join(out, rel)), { recursive: true, mode: 0o755 });
      await writeFile(join(out, rel), content, { mode });
      await chmod(join(out, rel), mode);
    };
    await mkdir(join(out, 'base'), { mode: 0o755 });
    for (const [name, input] of [
      ['etc', ctx.inputs.etc],
      ['var', ctx.inputs.var],
    ] as const) {
      await copyFile(input.path, join(out, `base/${name}.cpio.gz`));
      await chmod(join(out, `base/${name}.cpio.gz`), 0o644);
    }
    // No base/etc/diskless_remount: etc.cpio.gz fills /etc whole, so an NFS mount of <root>/etc over
    // /conf/base/etc adds nothing, and a FreeBSD mountd refuses it (-alldirs wants a file system's
    // root), which makes rc.initdiskless drop into /bin/sh: the boot stops.
    await put('base/etc/md_size', `${o.etcMdSize}\n`);
    await put('base/var/md_size', `${o.varMdSize}\n`);
    await put(`base/${o.iscsiMount.slice(1)}/md_size`, `${o.iscsiMdSize}\n`);

    const header = `# ${o.hostname} (${o.ip}): written by netboot`;
    // The disk netboot_iscsi waits for before mountlate (the root's rc.conf enables it).
    const rc: Record<string, string> = { hostname: o.hostname, netboot_iscsi_device: o.iscsi.device };
    if (o.gateway) rc.defaultrouter = o.gateway;
    for (const [i, j] of o.jails.entries()) rc[`ifconfig_${o.interface}_alias${i}`] = `inet ${j.ip}/32`;
    const lines = [
      header,
      `# ${o.interface} itself was configured by the kernel from the PXE boot: ` +
        'configuring it again would cut the NFS root.',
      ...o.jails.map((j, i) => `# alias${i}: jail ${j.name}`),
      ...rcLines({ ...rc, ...o.rcConf }, `${where}.rcConf`),
    ];
    await put(`${o.ip}/etc/rc.conf.local`, `${lines.join('\n')}\n`);
    await put(
      `${o.ip}/etc/fstab`,
      [
        header,
        '# Device\tMountpoint\tFStype\tOptions\tDump\tPass',
        `${o.nfsServer}:${o.nfsRoot}\t/\tnfs\tro\t0\t0`,
        // late: mounted by mountlate, after iscsictl has logged in. No fsck pass: the disk is not there when fsck runs.
        `${o.iscsi.device}\t${o.iscsiMount}\t${o.iscsi.fsType}\trw,late\t0\t0`,
        '',
      ].join('\n'),
    );
    const secret = o.iscsi.secretFile
      ? checkChapSecret(
          await readFile(ctx.resolvePath(o.iscsi.secretFile), 'utf8'),
          `${where}.iscsi.secretFile (${o.iscsi.secretFile})`,
        )
      : undefined;
    if (!o.iscsi.chapUser !== !secret)
      throw errors.badValue(`${where}.iscsi`, 'CHAP needs both chapUser and secretFile (or neither)');
    const portal = /:\d+$/.test(o.iscsi.portal) ? o.iscsi.portal : `${o.iscsi.portal}:3260`;
    await put(
      `${o.ip}/etc/iscsi.conf`,
      renderIscsiConf(header, {
        nickname: 'jails',
        portal,
        target: o.iscsi.target,
        chapUser: o.iscsi.chapUser,
        chapSecret: secret,
        // Keyed on the cache's own key: the file's content digest is no unsalted digest of the secret.
        salt: secret ? await ctx.keyedDigest(`freebsd-conf iscsi.conf salt\0${secret}`) : undefined,
      }),
      0o600,
    );
  },
});
