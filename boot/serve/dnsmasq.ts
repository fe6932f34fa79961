// dnsmasq for the site: DHCP (or proxy DHCP) and TFTP on one interface only, no DNS.
import { join } from 'node:path';
import { foreground, type Running } from './running.js';

export type DhcpMode = 'full' | 'proxy';

/**
 * The site's conf-dir as the only config (`--conf-file=/dev/null`: the machine's own
 * /etc/dnsmasq.conf is not read), bound to `iface` alone, DNS off (port 0).
 */
export function dnsmasqArgs(site: string, iface: string, mode: DhcpMode, run: string): string[] {
  const dir = join(site, mode === 'proxy' ? 'dnsmasq-proxy.d' : 'dnsmasq.d');
  return [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    `--conf-dir=${dir},*.conf`,
    '--port=0',
    `--interface=${iface}`,
    '--bind-interfaces',
    '--except-interface=lo',
    `--dhcp-leasefile=${join(run, 'dnsmasq.leases')}`,
    `--pid-file=${join(run, 'dnsmasq.pid')}`,
    '--log-facility=-',
    '--log-dhcp',
  ];
}

export function startDnsmasq(site: string, iface: string, mode: DhcpMode, run: string): Promise<Running> {
  return foreground(`dnsmasq (DHCP ${mode}, TFTP)`, 'dnsmasq', dnsmasqArgs(site, iface, mode, run));
}
