// Values that land in server configs, rc.conf and fstab lines: each pattern keeps a value on one
// line and one field of every format it is written into. Shared by the server-configs, FreeBSD
// and pipeline params, and by the renderers that check a direct caller's values.
import { HOST_NAME, IPV4, MAC, p } from '../core/schema.js';

const MASKS = Array.from({ length: 32 }, (_, i) => maskOf(i + 1));
// Safe in every format at once: no whitespace (nbd-server trims it, dhcpd and UCI split on it),
// no quotes, no ',' (dnsmasq's separator), no ';' '{' '}' (dhcpd), no '#', no '[' ']' (nbd sections).
const SAFE = '[A-Za-z0-9._+@~-]';

export interface Check {
  pattern: RegExp;
  what: string;
}

export const checks = {
  name: { pattern: HOST_NAME, what: "a host name (letters, digits, '_', '-', labels joined by single dots)" },
  mac: { pattern: MAC, what: 'a MAC address (aa:bb:cc:dd:ee:ff)' },
  ipv4: { pattern: IPV4, what: 'an IPv4 address' },
  netmask: {
    pattern: new RegExp(`^(?:${MASKS.map((m) => m.replace(/\./g, '\\.')).join('|')})$`),
    what: 'an IPv4 netmask (e.g. 255.255.255.0)',
  },
  // An export name is also the tail of nbdroot=SERVER:PORT/EXPORT, so no '/' either.
  export: { pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, what: "an NBD export name (letters, digits, '.', '_', '-')" },
  absPath: {
    pattern: new RegExp(`^(?!.*(?:^|/)\\.\\.?(?:/|$))/(?:${SAFE}+(?:/${SAFE}+)*/?)?$`),
    what: "an absolute path without '.' or '..' parts, spaces, quotes or commas",
  },
  relPath: {
    pattern: new RegExp(`^(?!.*(?:^|/)\\.\\.?(?:/|$))${SAFE}+(?:/${SAFE}+)*$`),
    what: "a relative path without '.' or '..' parts, spaces, quotes or commas",
  },
  // A boot file as iPXE fetches it: a path on the TFTP server, or an http:// URL on an IPv4 address.
  bootUri: {
    pattern: new RegExp(
      `^(?:http://(?:\\d{1,3}\\.){3}\\d{1,3}(?::\\d{1,5})?/)?(?!.*(?:^|/)\\.\\.?(?:/|$))${SAFE}+(?:/${SAFE}+)*$`,
    ),
    what: "a relative path or an http://IPv4[:port]/ URL without '.' or '..' parts, spaces, quotes or commas",
  },
} satisfies Record<string, Check>;

/** The schema of a value under one of the checks above. */
export const checked = (c: Check) => p.string({ pattern: c.pattern, what: c.what });

function maskOf(bits: number): string {
  const n = (0xffffffff << (32 - bits)) >>> 0;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}
