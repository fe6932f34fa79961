// OpenWRT keeps dnsmasq's settings in UCI (/etc/config/dhcp); its init script turns `config host`
// into dhcp-host, `config match` into dhcp-match, `config boot` into dhcp-boot and `config tag`
// into dhcp-option for that tag, so these sections mirror the dnsmasq snippet.
import { createHash } from 'node:crypto';
import { bootTags } from './dnsmasq.js';
import {
  ARCH_CODES,
  ARCH_TAGS,
  bootFilesOf,
  checkServerConfig,
  headerOf,
  IPXE_TAG,
  type ServerConfig,
  type ServerConfigInput,
} from './params.js';

/**
 * The host's tag, which is also its `config tag` section's name: UCI names allow only
 * [A-Za-z0-9_], so the host name is folded and a digest of it keeps `a.b` and `a_b` apart.
 */
export function openwrtTagOf(host: ServerConfig): string {
  const digest = createHash('sha256').update(host.name).digest('hex').slice(0, 8);
  return `netboot_${host.name.replace(/[^A-Za-z0-9]/g, '_')}_${digest}`;
}

/** Sections to append to /etc/config/dhcp. Host, match and boot sections are anonymous. */
export function renderOpenwrtDhcp(input: ServerConfigInput): string {
  const host = checkServerConfig(input);
  const tag = openwrtTagOf(host);
  const q = (v: string) => `'${v}'`; // every value passed checkServerConfig, so none holds a quote
  const options: string[] = [];
  if (host.gateway) options.push(`option:router,${host.gateway}`);
  if (host.dns?.length) options.push(`option:dns-server,${host.dns.join(',')}`);
  if (host.nfsRoot) options.push(`option:root-path,"${host.server}:${host.nfsRoot}"`);
  return [
    headerOf(host),
    "# append to /etc/config/dhcp; TFTP itself is the 'config dnsmasq' section's enable_tftp and tftp_root",
    'config host',
    `\toption name ${q(host.name)}`,
    `\toption mac ${q(host.mac)}`,
    `\toption ip ${q(host.ip)}`,
    `\toption tag ${q(tag)}`,
    '',
    // DHCP option 93 (client-arch): 0 BIOS, 7 and 9 x86-64 UEFI; each boot file goes only to its firmware.
    ...Object.entries(ARCH_CODES).flatMap(([arch, codes]) =>
      codes.flatMap((c) => [
        'config match',
        `\toption networkid ${q(ARCH_TAGS[arch as keyof typeof ARCH_TAGS])}`,
        `\toption match ${q(`option:client-arch,${c}`)}`,
        '',
      ]),
    ),
    ...(host.ipxeScript
      ? ['config userclass', `\toption networkid ${q(IPXE_TAG)}`, `\toption userclass ${q('iPXE')}`, '']
      : []),
    // The init script writes dhcp-boot=net:<networkid>,...: more tags ride in networkid as ',tag:...'.
    ...bootFilesOf(host).flatMap((b) => [
      'config boot',
      `\toption networkid ${q(`${tag},${bootTags(host, b.arch)}`)}`,
      `\toption filename ${q(b.file)}`,
      // The init script drops a boot section that has a server address but no server name.
      `\toption servername ${q(host.server)}`,
      `\toption serveraddress ${q(host.server)}`,
      '',
    ]),
    // The host's options for every request it makes, the booted system's included (no option 93 there).
    ...(options.length ? [`config tag ${q(tag)}`, ...options.map((o) => `\tlist dhcp_option ${q(o)}`), ''] : []),
  ].join('\n');
}
