import { errors } from '../base/errors.js';
import { type ArtifactRef, defineRecipe } from '../core/recipe.js';
import { p } from '../core/schema.js';
import { cpioPlugin } from '../plugins/cpio.js';
import { fetchFilePlugin } from '../plugins/fetch-file.js';
import { freebsdConfPlugin, iscsiTarget, jail } from '../plugins/freebsd/conf.js';
import { freebsdCustomizePlugin } from '../plugins/freebsd/customize.js';
import { rcVars } from '../plugins/freebsd/rc-files.js';
import { releaseMajor } from '../plugins/freebsd/release.js';
import { freebsdRootPlugin } from '../plugins/freebsd/root.js';
import { pickPlugin } from '../plugins/pick.js';
import { checked, checks } from '../plugins/safe-values.js';
import { serverConfigsPlugin } from '../plugins/server-configs/index.js';
import { freebsdUpstream, packageItem, pkgRepo, resolveSources, sets } from './freebsd.js';

/**
 * A FreeBSD diskless jail host (10.x to 14.x): a read-only NFS root from the release's
 * distribution sets (by release, verified against its MANIFEST and pinned in netboot.lock, or
 * sets of one's own) plus pkg packages (ezjail's, by name), /conf for rc.initdiskless (etc and var as odc cpio
 * archives, per-host overrides under conf/<ip>/etc), pxeboot on TFTP, jails on an iSCSI disk with
 * their fstabs kept there, and the DHCP/NFS server configs.
 */
export const freebsd10NfsEzjail = defineRecipe({
  name: 'freebsd10-nfs-ezjail',
  description:
    'FreeBSD 10 to 14 diskless jail host: NFS root from distribution sets, /conf cpio archives, pxeboot, ezjail ' +
    'on iSCSI',
  params: {
    sets,
    /** Package names from the pkg repository (with their dependencies), or archives of one's own. */
    packages: p.array(packageItem).default([]),
    /** The pkg repository for package names (default: pkg.freebsd.org's quarterly for the release's ABI). */
    pkgRepo,
    interface: p
      .string({ pattern: /^[a-z]+[0-9]+$/, what: 'a FreeBSD interface name (em0, vtnet0, igb0)' })
      .default('em0'),
    gateway: p.optional(p.ipv4()),
    netmask: p.optional(checked(checks.netmask)),
    jails: p.array(jail).default([]),
    iscsi: iscsiTarget,
    sshd: p.boolean().default(true),
    /** Seconds the boot waits for the iSCSI session and its disk before mountlate. */
    iscsiWait: p.number({ integer: true, min: 1, max: 3600 }).default(60),
    /** rc.conf settings shared by every host of this root, and this host's own (rc.conf.local). */
    rcConf: rcVars.default({}),
    hostRcConf: rcVars.default({}),
    loaderConf: rcVars.default({ autoboot_delay: '3' }),
    /** Where pxeboot sits in the host's TFTP directory: `<host>/<prefix>/boot/pxeboot` (default freebsd<major>). */
    tftpPrefix: p.optional(checked(checks.relPath)),
    etcMdSize: p.number({ integer: true, min: 2048 }).default(20480),
    varMdSize: p.number({ integer: true, min: 2048 }).default(65536),
  },
  upstream: (params, host, env) =>
    freebsdUpstream(params.sets, params.packages, params.pkgRepo, `hosts.${host.name}.params`, env),
  build(r, params, host, pins) {
    const where = `hosts.${host.name}.params`;
    if (!params.iscsi.chapUser !== !params.iscsi.secretFile)
      throw errors.badValue(`${where}.iscsi`, 'CHAP needs both chapUser and secretFile (or neither)');
    const fetch = (id: string, src: Record<string, string | undefined>) =>
      r.step(id, fetchFilePlugin, { params: src }).out('file');
    const resolved = resolveSources(params.sets, params.packages, params.pkgRepo, pins, where);
    const inputs: Record<string, ArtifactRef> = {};
    for (const [name, src] of [...resolved.sets, ...resolved.packages]) inputs[name] = fetch(`fetch-${name}`, src);
    const packages = resolved.packages.map(([name]) => name);
    const setNames = resolved.sets.map(([name]) => name);
    const extracted = r.step('root', freebsdRootPlugin, { params: { sets: setNames, packages }, inputs });
    const root = r.step('customize', freebsdCustomizePlugin, {
      params: { sshd: params.sshd, rcConf: params.rcConf, loaderConf: params.loaderConf, iscsiWait: params.iscsiWait },
      inputs: { root: extracted.out('tree') },
    });
    const rootTree = root.out('tree');
    // rc.initdiskless extracts them with `cd / ; tar -xpf`: entries must be named etc/... and var/....
    const archive = (id: string, dir: string) =>
      r
        .step(id, cpioPlugin, { params: { format: 'odc', prefix: `${dir}/`, subdir: dir }, inputs: { tree: rootTree } })
        .out('archive');
    const rootPath = `${host.san.nfs}/${host.name}/root`;
    const conf = r.step('conf', freebsdConfPlugin, {
      params: {
        hostname: host.name,
        ip: host.ip,
        interface: params.interface,
        gateway: params.gateway,
        jails: params.jails,
        nfsServer: host.server,
        nfsRoot: rootPath,
        iscsi: params.iscsi,
        etcMdSize: params.etcMdSize,
        varMdSize: params.varMdSize,
        rcConf: params.hostRcConf,
      },
      inputs: { etc: archive('etc-archive', 'etc'), var: archive('var-archive', 'var') },
    });
    const prefix = params.tftpPrefix ?? `freebsd${params.sets.release ? releaseMajor(params.sets.release) : 10}`;
    const bootfile = `${prefix}/boot/pxeboot`;
    // pxeboot comes from the same base set as the root, so loader and kernel always match it.
    const tftp = r.step('tftp', pickPlugin, {
      params: { files: { [bootfile]: 'boot/pxeboot' } },
      inputs: { tree: extracted.out('tree') },
    });
    const configs = r.step('server-configs', serverConfigsPlugin, {
      params: {
        name: host.name,
        mac: host.mac,
        ip: host.ip,
        server: host.server,
        bootfile: `${host.name}/${bootfile}`,
        tftpRoot: host.san.tftp,
        gateway: params.gateway,
        netmask: params.netmask,
        nfsRoot: rootPath,
        nfsReadOnly: true,
      },
    });
    return {
      publish: [
        { target: 'tftp' as const, path: '.', from: tftp.out('tree') },
        // Read-only: hard links into the cache. /conf is laid over it, so a conf change publishes
        // a new release without a new root artifact.
        { target: 'nfs' as const, path: 'root', from: rootTree },
        { target: 'nfs' as const, path: 'root/conf', from: conf.out('tree') },
        { target: 'conf' as const, path: '.', from: configs.out('tree') },
      ],
    };
  },
});

/** The same recipe under a name that says no release: `sets.release` picks 10.x, 13.x or 14.x. */
export const freebsdNfsEzjail = defineRecipe({
  ...freebsd10NfsEzjail,
  name: 'freebsd-nfs-ezjail',
  description:
    'FreeBSD diskless jail host of any release (sets by release, MANIFEST-verified and locked; packages by ' +
    'name): NFS root, /conf cpio archives, pxeboot, ezjail on iSCSI',
});
