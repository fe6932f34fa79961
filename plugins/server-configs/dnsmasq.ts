// dnsmasq: a per-host snippet for /etc/dnsmasq.d when dnsmasq is the network's DHCP server, a
// proxy-DHCP variant for networks where another server hands out addresses, and the site-level
// TFTP settings every host relies on.
import { errors } from '../../base/errors.js';
import {
  ARCH_CODES,
  ARCH_TAGS,
  bootFilesOf,
  checkServerConfig,
  headerOf,
  IPXE_TAG,
  networkOf,
  type ServerConfig,
  type ServerConfigInput,
  tagOf,
} from './params.js';

/** The tags a boot file goes to: its architecture's, and (for an iPXE host) not iPXE's own request. */
export function bootTags(host: ServerConfig, arch: keyof typeof ARCH_TAGS | 'ipxe'): string {
  if (arch === 'ipxe') return `tag:${IPXE_TAG}`;
  return `tag:${ARCH_TAGS[arch]}${host.ipxeScript ? `,tag:!${IPXE_TAG}` : ''}`;
}

/** Tags from option 93 (repeated in every host's file, so each file works alone; dnsmasq accepts repeats). */
export function archMatches(): string[] {
  return [
    '# DHCP option 93 (client-arch): 0 BIOS, 7 and 9 x86-64 UEFI; each boot file goes only to its firmware',
    ...Object.entries(ARCH_CODES).flatMap(([arch, codes]) =>
      codes.map((c) => `dhcp-match=set:${ARCH_TAGS[arch as keyof typeof ARCH_TAGS]},option:client-arch,${c}`),
    ),
  ];
}

/** `dhcp-host` ties the MAC to its address and a tag; every boot setting is then scoped to that tag. */
export function renderDnsmasqHost(input: ServerConfigInput): string {
  const host = checkServerConfig(input);
  const tag = tagOf(host);
  return [
    headerOf(host),
    `dhcp-host=${host.mac},set:${tag},${host.ip},${host.name}`,
    ...archMatches(),
    // The empty server name keeps the TFTP server an address: clients have no DNS at this point.
    ...(host.ipxeScript ? [`dhcp-userclass=set:${IPXE_TAG},iPXE`] : []),
    ...bootFilesOf(host).map((b) => `dhcp-boot=tag:${tag},${bootTags(host, b.arch)},${b.file},,${host.server}`),
    ...hostOptions(host, tag),
    '',
  ].join('\n');
}

/**
 * Proxy DHCP: dnsmasq leaves addresses to the existing server and only answers PXE clients. The
 * host's tag still comes from its MAC (dnsmasq applies dhcp-host tags before its proxy reply).
 */
export function renderDnsmasqProxy(input: ServerConfigInput): string {
  const host = checkServerConfig(input);
  const tag = tagOf(host);
  const range = host.netmask ? `${networkOf(host.ip, host.netmask)},proxy,${host.netmask}` : `${host.ip},proxy`;
  return [
    headerOf(host),
    '# proxy DHCP: another server assigns the address; this answers only the PXE boot request',
    ...(host.netmask ? [] : ['# without a netmask, dnsmasq takes the subnet of the interface that holds this address']),
    `dhcp-range=${range}`,
    `dhcp-host=${host.mac},set:${tag}`,
    ...pxeServices(host, tag),
    // A proxy reply carries boot options only: the server that assigns the address must send these.
    ...hostOptions(host, tag).map((l) => `# on the address server: ${l.replace(/^dhcp-option=tag:[^,]*,/, '')}`),
    '',
  ].join('\n');
}

/**
 * Site-level settings, the same for every host: dnsmasq serves the SAN's TFTP root, and (given a
 * netmask) answers in the host's subnet without a dynamic pool, as dhcp-host needs a range to act.
 */
export function renderDnsmasqSite(input: ServerConfigInput): string {
  const host = checkServerConfig(input);
  if (!host.tftpRoot)
    throw errors.badValue('server-configs.tftpRoot', 'the site-level dnsmasq file needs the TFTP root (tftpRoot)');
  return [
    '# netboot site settings for dnsmasq: one copy per server, not per host',
    'enable-tftp',
    `tftp-root=${host.tftpRoot}`,
    ...(host.netmask ? [`dhcp-range=${networkOf(host.ip, host.netmask)},static,${host.netmask}`] : []),
    '',
  ].join('\n');
}

/**
 * dnsmasq appends the PXE layer suffix (".0") to a basename that has no '.' anywhere in it, and
 * sends one that has a '.' unchanged. So `demo/pxelinux.0` is given as `demo/pxelinux`, but a
 * boot file under a dotted host name (`web.lab/pxelinux.0`) must be given whole.
 */
export function pxeBasename(host: ServerConfig): string | undefined {
  const stem = host.bootfile.endsWith('.0') ? host.bootfile.slice(0, -2) : undefined;
  if (stem !== undefined && !stem.includes('.')) return stem;
  if (host.bootfile.includes('.')) return host.bootfile;
  return undefined;
}

/**
 * A boot file with no '.' at all (FreeBSD's `<host>/freebsd10/boot/pxeboot`) cannot be named to
 * pxe-service: dnsmasq would ask for "pxeboot.0". The example says so instead of a line that
 * would boot nothing.
 */
function pxeServices(host: ServerConfig, tag: string): string[] {
  const lines: string[] = [];
  const base = pxeBasename(host);
  if (!host.bios) lines.push('# no BIOS (x86PC) service: the host boots UEFI only');
  else if (base !== undefined) lines.push(`pxe-service=tag:${tag},x86PC,"netboot ${host.name}",${base},${host.server}`);
  else
    lines.push(
      `# no pxe-service line: dnsmasq would ask for "${host.bootfile}.0" (it appends ".0" to a name without a '.'); ` +
        `have the address server send filename "${host.bootfile}" and next-server ${host.server}`,
    );
  // dnsmasq's CSA names: BC_EFI is 7, x86-64_EFI is 9. The .efi name has a '.', so it is sent whole.
  if (host.efiBootfile)
    for (const csa of ['BC_EFI', 'x86-64_EFI'])
      lines.push(`pxe-service=tag:${tag},${csa},"netboot ${host.name}",${host.efiBootfile},${host.server}`);
  if (host.ipxeScript)
    lines.push(
      `dhcp-userclass=set:${IPXE_TAG},iPXE`,
      `dhcp-boot=tag:${tag},tag:${IPXE_TAG},${host.ipxeScript},,${host.server}`,
    );
  return lines;
}

function hostOptions(host: ServerConfig, tag: string): string[] {
  const lines: string[] = [];
  if (host.gateway) lines.push(`dhcp-option=tag:${tag},option:router,${host.gateway}`);
  if (host.dns?.length) lines.push(`dhcp-option=tag:${tag},option:dns-server,${host.dns.join(',')}`);
  if (host.nfsRoot) lines.push(`dhcp-option=tag:${tag},option:root-path,"${host.server}:${host.nfsRoot}"`);
  return lines;
}
