// What the site release needs from the config: the conf target (local only), every host's iSCSI
// params from its recipe params, and the SAN's disk settings. Shared by publish and serve.
import { join, resolve } from 'node:path';
import type { Cache } from '../cache/store.js';
import { LocalTarget } from '../publish/local-target.js';
import { publishSite, type SitePublish } from '../publish/site.js';
import { type HostIscsi, planDisks } from '../publish/site-disks.js';
import type { ResolvedConfig } from './config-validate.js';

/** A host's `params.iscsi`, when its recipe has one (kvm-host, lxc-host). */
export function hostIscsi(config: ResolvedConfig): HostIscsi[] {
  const out: HostIscsi[] = [];
  for (const [name, h] of config.hosts) {
    const i = (h.params as { iscsi?: Record<string, unknown> }).iscsi;
    if (!i || typeof i.target !== 'string') continue;
    out.push({
      host: name,
      ip: h.info.ip,
      target: i.target,
      lun: typeof i.lun === 'number' ? i.lun : 1,
      fsType: typeof i.fsType === 'string' ? i.fsType : 'ext4',
      ...(typeof i.chapUser === 'string' ? { chapUser: i.chapUser } : {}),
      // FreeBSD's secretFile is a file on this machine (relative to the config), so it stands in
      // when san.iscsi.disks.<host>.secretFile names no SAN copy. A Debian recipe's is a path on the
      // booted host (/etc/iscsi/...), never read here.
      ...(typeof i.secretFile === 'string' && h.recipe.name.startsWith('freebsd')
        ? { secretFile: resolve(config.dir, i.secretFile) }
        : {}),
    });
  }
  return out;
}

/** Publishes the site after the hosts; a conf root over SSH gets none (a note says so). */
export async function publishSiteOf(
  config: ResolvedConfig,
  cache: Cache,
  notice: (l: string) => void,
): Promise<SitePublish | undefined> {
  const san = config.san;
  if (san.conf.startsWith('ssh://') || san.tftp.startsWith('ssh://')) {
    notice('site: the site release is written to a local conf root only; skipped for ssh:// roots');
    return undefined;
  }
  return publishSite({
    file: config.file,
    conf: new LocalTarget('conf', san.conf, cache),
    server: san.server,
    tftpRoot: san.tftp,
    hosts: [...config.hosts.keys()],
    iscsi: hostIscsi(config),
    disks: san.iscsi,
    keep: san.keep,
    reload: san.reload.site,
    notice,
  });
}

/** Where the live site is: `<conf>/site`. */
export const siteDir = (config: ResolvedConfig) => join(config.san.conf, 'site');

/** Every host's iSCSI disk checked before any host is published: a bad one leaves the SAN as it was. */
export async function checkSiteDisks(config: ResolvedConfig): Promise<void> {
  if (config.san.conf.startsWith('ssh://')) return;
  await planDisks(config.file, hostIscsi(config), config.san.iscsi);
}
