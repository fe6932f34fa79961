// ISC dhcpd: a host declaration to include from dhcpd.conf (inside or outside the subnet block).
import { checkServerConfig, headerOf, type ServerConfigInput } from './params.js';

export function renderDhcpdHost(input: ServerConfigInput): string {
  const host = checkServerConfig(input);
  const lines = [
    headerOf(host),
    // dhcpd takes a host name as a bare identifier only (a quoted one is a parse error).
    `host ${host.name} {`,
    `  hardware ethernet ${host.mac};`,
    `  fixed-address ${host.ip};`,
    `  option host-name "${host.name}";`,
    `  next-server ${host.server};`,
    `  filename "${host.bootfile}";`,
  ];
  if (host.netmask) lines.push(`  option subnet-mask ${host.netmask};`);
  if (host.gateway) lines.push(`  option routers ${host.gateway};`);
  if (host.dns?.length) lines.push(`  option domain-name-servers ${host.dns.join(', ')};`);
  if (host.nfsRoot) lines.push(`  option root-path "${host.server}:${host.nfsRoot}";`);
  lines.push('}', '');
  return lines.join('\n');
}
