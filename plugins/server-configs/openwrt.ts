// OpenWRT keeps dnsmasq's settings in UCI (/etc/config/dhcp); its init script turns `config host`
// into dhcp-host and `config boot` into dhcp-boot, so these sections mirror the dnsmasq snippet.
import { checkServerConfig, headerOf, type ServerConfigInput, tagOf } from './params.js';

/**
 * Sections to append to /etc/config/dhcp. They are anonymous: a named section's name allows only
 * [A-Za-z0-9_], and folding host names into that could make two hosts share one section.
 */
export function renderOpenwrtDhcp(input: ServerConfigInput): string {
  const host = checkServerConfig(input);
  const tag = tagOf(host);
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
    'config boot',
    `\toption networkid ${q(tag)}`,
    `\toption filename ${q(host.bootfile)}`,
    // The init script drops a boot section that has a server address but no server name.
    `\toption servername ${q(host.server)}`,
    `\toption serveraddress ${q(host.server)}`,
    ...options.map((o) => `\tlist dhcp_option ${q(o)}`),
    '',
  ].join('\n');
}
