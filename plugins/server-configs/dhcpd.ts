// ISC dhcpd: a host declaration to include from dhcpd.conf (inside or outside the subnet block).
import { ARCH_CODES, bootFilesOf, checkServerConfig, headerOf, type ServerConfigInput } from './params.js';

const IPXE_TEST = 'exists user-class and option user-class = "iPXE"';

/** `option arch = 00:07 or ...`: dhcpd compares the 16-bit option 93 with a colon-hex literal. */
const archTest = (codes: readonly number[]) =>
  codes.map((c) => `option arch = 00:${c.toString(16).padStart(2, '0')}`).join(' or ');

export function renderDhcpdHost(input: ServerConfigInput): string {
  const host = checkServerConfig(input);
  const files = bootFilesOf(host);
  const lines = [
    headerOf(host),
    // Option 93 by name; dhcpd accepts the same definition again in another host's file.
    'option arch code 93 = unsigned integer 16;',
    // dhcpd takes a host name as a bare identifier only (a quoted one is a parse error).
    `host ${host.name} {`,
    `  hardware ethernet ${host.mac};`,
    `  fixed-address ${host.ip};`,
    `  option host-name "${host.name}";`,
    `  next-server ${host.server};`,
    // A boot file only for the firmware it runs on (option 93: 0 BIOS, 7 and 9 x86-64 UEFI).
    // iPXE's own request (user-class "iPXE") first: it gets the script, not iPXE again.
    ...files.map(
      (b, i) =>
        `  ${i ? '} elsif' : 'if'} ${b.arch === 'ipxe' ? IPXE_TEST : archTest(ARCH_CODES[b.arch])} {\n` +
        `    filename "${b.file}";`,
    ),
    ...(files.length ? ['  }'] : []),
  ];
  if (host.netmask) lines.push(`  option subnet-mask ${host.netmask};`);
  if (host.gateway) lines.push(`  option routers ${host.gateway};`);
  if (host.dns?.length) lines.push(`  option domain-name-servers ${host.dns.join(', ')};`);
  if (host.nfsRoot) lines.push(`  option root-path "${host.server}:${host.nfsRoot}";`);
  lines.push('}', '');
  return lines.join('\n');
}
