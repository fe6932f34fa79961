// The site: what the SAN's servers include once for every host. It is put together from the
// hosts' own server-config trees (as published, so a host that is not live is not in it), plus
// the settings that exist once per server (TFTP root, the DHCP range) and the iSCSI targets.
import { headerOfTarget, renderTgtTarget, type TgtTarget } from './tgt.js';

export { renderTgtTarget, type TgtTarget };

/** One host's published server-config files, by path inside its conf directory. */
export interface SiteHost {
  name: string;
  files: Record<string, string>;
}

export interface SiteInput {
  /** The SAN address (in the subnet dnsmasq serves: it takes the netmask from that interface). */
  server: string;
  /** The TFTP root (the live one: each host's directory is a link in it). */
  tftpRoot: string;
  hosts: SiteHost[];
  tgt: TgtTarget[];
}

/** A file of the site release: its content and mode (0400 for what holds a secret, else 0444). */
export interface SiteFile {
  content: string;
  mode: number;
}

const HEAD = '# netboot site: every published host at once; written by netboot, replaced by each publish';

/** Every file of the site release, by path. Pure: the same input gives the same bytes. */
export function renderSite(s: SiteInput): Record<string, SiteFile> {
  const hosts = [...s.hosts].sort((a, b) => (a.name < b.name ? -1 : 1));
  const out: Record<string, SiteFile> = {};
  // Read-only like every published file; what holds a secret is for root's eyes only.
  const put = (path: string, content: string, mode = 0o444) => {
    out[path] = { content, mode };
  };
  const each = (pick: (f: string) => boolean) =>
    hosts.flatMap((h) =>
      Object.keys(h.files)
        .filter(pick)
        .sort()
        .map((f) => ({ host: h.name, path: f, text: h.files[f] })),
    );
  const proxyRanges = new Set<string>();
  for (const f of each((f) => /^dnsmasq\.d\/[^/]+-proxy\.conf\.example$/.test(f))) {
    const lines = f.text.split('\n');
    // A host without a netmask names its own address: one range at the SAN's address covers them all.
    for (const l of lines.filter((x) => x.startsWith('dhcp-range=')))
      proxyRanges.add(/^dhcp-range=[\d.]+,proxy$/.test(l) ? `dhcp-range=${s.server},proxy` : l);
    put(`dnsmasq-proxy.d/${f.host}.conf`, lines.filter((x) => !x.startsWith('dhcp-range=')).join('\n'));
  }
  for (const f of each((f) => /^dnsmasq\.d\/[^/]+\.conf$/.test(f))) put(f.path, f.text);
  const tftp = ['enable-tftp', `tftp-root=${s.tftpRoot}`];
  put(
    'dnsmasq.d/00-netboot-site.conf',
    [
      HEAD,
      ...tftp,
      "# addresses only to the hosts below (dhcp-host), none from a pool; the netmask is the interface's",
      `dhcp-range=${s.server},static`,
      '',
    ].join('\n'),
  );
  put(
    'dnsmasq-proxy.d/00-netboot-site.conf',
    [
      HEAD,
      '# proxy DHCP: another server hands out the addresses; this one answers PXE clients only',
      ...tftp,
      ...(proxyRanges.size ? [...proxyRanges].sort() : [`dhcp-range=${s.server},proxy`]),
      '',
    ].join('\n'),
  );
  for (const f of each((f) => f.startsWith('nbd-server/conf.d/'))) put(f.path, f.text);
  const cat = (path: string, pick: (f: string) => boolean, dedupe?: RegExp) => {
    const parts = each(pick).map((f) => f.text);
    if (!parts.length) return;
    let seen = false;
    const text = parts
      .join('\n')
      .split('\n')
      .filter((l) => {
        if (!dedupe?.test(l)) return true;
        const first = !seen;
        seen = true;
        return first;
      })
      .join('\n');
    put(path, `${HEAD}\n${text}`);
  };
  cat('exports.d/netboot.exports', (f) => f.startsWith('exports.d/'));
  cat('ganesha/netboot.conf', (f) => f.startsWith('ganesha/'));
  cat('freebsd/exports', (f) => f.startsWith('freebsd/'));
  // dhcpd takes a definition of option 93 once per scope: the one copy of it comes first.
  cat('dhcpd/netboot.conf', (f) => f.startsWith('dhcpd/'), /^option arch code 93 /);
  cat('openwrt/dhcp', (f) => f.startsWith('openwrt/'));
  for (const t of [...s.tgt].sort((a, b) => (a.host < b.host ? -1 : 1)))
    put(`tgt/conf.d/${t.host}.conf`, `${headerOfTarget(t)}${renderTgtTarget(t)}`, t.chap ? 0o400 : 0o444);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}
