import { errors } from '../base/errors.js';
import { type ArtifactRef, defineRecipe } from '../core/recipe.js';
import { type Infer, p } from '../core/schema.js';
import { cpioPlugin } from '../plugins/cpio.js';
import { fetchFilePlugin } from '../plugins/fetch-file.js';
import { freebsdConfPlugin, iscsiTarget, jail } from '../plugins/freebsd/conf.js';
import { freebsdCustomizePlugin } from '../plugins/freebsd/customize.js';
import { rcVars } from '../plugins/freebsd/rc-files.js';
import { freebsdRootPlugin } from '../plugins/freebsd/root.js';
import { pickPlugin } from '../plugins/pick.js';
import { checked, checks } from '../plugins/safe-values.js';
import { serverConfigsPlugin } from '../plugins/server-configs/index.js';

/** A distribution set or package: a URL or a path, pinned by the sha256 that makes it a fixed-output input. */
const source = p.object({
  url: p.optional(p.string()),
  path: p.optional(p.string()),
  sha256: p.optional(p.string({ pattern: /^[0-9a-f]{64}$/, what: 'a sha256 (64 lowercase hex digits)' })),
});
type Source = Infer<typeof source>;

/**
 * A FreeBSD 10 diskless jail host: a read-only NFS root from the release's distribution sets
 * (plus pkg archives such as ezjail's), /conf for rc.initdiskless (etc and var as odc cpio
 * archives, per-host overrides under conf/<ip>/etc), pxeboot on TFTP, jails on an iSCSI disk with
 * their fstabs kept there, and the DHCP/NFS server configs.
 */
export const freebsd10NfsEzjail = defineRecipe({
  name: 'freebsd10-nfs-ezjail',
  description:
    'FreeBSD 10 diskless jail host: NFS root from distribution sets, /conf cpio archives, pxeboot, ezjail on iSCSI',
  params: {
    sets: p.object({ base: source, kernel: source }),
    packages: p.array(source).default([]),
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
    /** Where pxeboot sits in the host's TFTP directory: `<host>/<prefix>/boot/pxeboot`. */
    tftpPrefix: checked(checks.relPath).default('freebsd10'),
    etcMdSize: p.number({ integer: true, min: 2048 }).default(20480),
    varMdSize: p.number({ integer: true, min: 2048 }).default(65536),
  },
  build(r, params, host) {
    const where = `hosts.${host.name}.params`;
    if (!params.iscsi.chapUser !== !params.iscsi.secretFile)
      throw errors.badValue(`${where}.iscsi`, 'CHAP needs both chapUser and secretFile (or neither)');
    const fetch = (id: string, s: Source, at: string) =>
      r.step(id, fetchFilePlugin, { params: pinned(s, at) }).out('file');
    const inputs: Record<string, ArtifactRef> = {
      base: fetch('fetch-base', params.sets.base, `${where}.sets.base`),
      kernel: fetch('fetch-kernel', params.sets.kernel, `${where}.sets.kernel`),
    };
    const packages: string[] = [];
    params.packages.forEach((s, i) => {
      packages.push(`pkg${i}`);
      inputs[`pkg${i}`] = fetch(`fetch-pkg${i}`, s, `${where}.packages[${i}]`);
    });
    const extracted = r.step('root', freebsdRootPlugin, { params: { sets: ['base', 'kernel'], packages }, inputs });
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
    const bootfile = `${params.tftpPrefix}/boot/pxeboot`;
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

/** fetch-file's params for a source. An unpinned one is passed on: its fetch step fails, saying where the digest is. */
function pinned(s: Source, where: string) {
  if ((s.url === undefined) === (s.path === undefined))
    throw errors.badValue(where, 'give exactly one of url and path');
  return { ...(s.url !== undefined ? { url: s.url } : { path: s.path }), sha256: s.sha256 };
}
