// What the server-config renderers need to know about one host, and the checks that keep every
// value on one line of every format it lands in. The same patterns back the plugin's schema (so a
// recipe fails when it declares the step) and the renderers (so a direct caller cannot skip them).
import { errors } from '../../base/errors.js';
import { p, type ShapeIn, type ShapeOut } from '../../core/schema.js';
import { type Check, checked, checks } from '../safe-values.js';

/** nbd-server's port (IANA-registered); nbdroot= leaves it out when it is this one. */
export const NBD_DEFAULT_PORT = 10809;

/** The plugin's parameters: one host as its DHCP, TFTP and NBD servers must know it. */
export const serverConfigShape = {
  name: checked(checks.name),
  mac: checked(checks.mac),
  ip: checked(checks.ipv4),
  /** The SAN address clients reach TFTP, NBD and NFS at (an IP: there is no DNS at boot). */
  server: checked(checks.ipv4),
  /** The boot file relative to the TFTP root, e.g. `demo/pxelinux.0`: what BIOS clients (arch 0) get. */
  bootfile: checked(checks.relPath),
  /** Whether BIOS clients get `bootfile` (false: a UEFI-only host; BIOS clients get no boot file). */
  bios: p.boolean().default(true),
  /** What x86-64 UEFI clients (arch 7 and 9) get, e.g. `demo/shimx64.efi`; absent: they get no boot file. */
  efiBootfile: p.optional(checked(checks.relPath)),
  /** iPXE hosts: the script iPXE's own request (user-class "iPXE") gets: a TFTP path or an http:// URL. */
  ipxeScript: p.optional(checked(checks.bootUri)),
  nbd: p.optional(
    p.object({
      export: checked(checks.export),
      port: p.number({ integer: true, min: 1, max: 65535 }).default(NBD_DEFAULT_PORT),
      /** Where the server opens the disk: the host's live path, so a publish switches it. */
      image: checked(checks.absPath),
      /** Where the server finds the host's allow list; a missing file would allow everyone. */
      authfile: checked(checks.absPath),
    }),
  ),
  gateway: p.optional(checked(checks.ipv4)),
  netmask: p.optional(checked(checks.netmask)),
  dns: p.optional(p.array(checked(checks.ipv4))),
  /** NFS-root hosts: the exported root, sent as DHCP root-path `server:path`. */
  nfsRoot: p.optional(checked(checks.absPath)),
  /** Export the NFS root read-only (a shared root with per-host overlays) instead of read-write. */
  nfsReadOnly: p.boolean().default(false),
  /** The TFTP root on the SAN, for the site-level dnsmasq example. */
  tftpRoot: p.optional(checked(checks.absPath)),
};

export type ServerConfigInput = ShapeIn<typeof serverConfigShape>;
export type ServerConfig = ShapeOut<typeof serverConfigShape>;

/**
 * Checks every field and returns the host with defaults applied and the MAC in lower case.
 * Throws CONFIG_INVALID naming the first bad field: a renderer never writes a value it has not
 * checked here.
 */
export function checkServerConfig(input: ServerConfigInput, where = 'server-configs'): ServerConfig {
  const v = input as Record<string, unknown>;
  const one = (field: string, value: unknown, c: Check) => {
    if (typeof value !== 'string' || !c.pattern.test(value))
      throw errors.badValue(`${where}.${field}`, `${show(value)} is not ${c.what}`);
    return value;
  };
  const opt = (field: string, c: Check) => (v[field] === undefined ? undefined : one(field, v[field], c));
  const out: ServerConfig = {
    name: one('name', v.name, checks.name),
    mac: one('mac', v.mac, checks.mac).toLowerCase(),
    ip: one('ip', v.ip, checks.ipv4),
    server: one('server', v.server, checks.ipv4),
    bootfile: one('bootfile', v.bootfile, checks.relPath),
    bios: v.bios !== false,
    efiBootfile: opt('efiBootfile', checks.relPath),
    ipxeScript: opt('ipxeScript', checks.bootUri),
    nbd: undefined,
    gateway: opt('gateway', checks.ipv4),
    netmask: opt('netmask', checks.netmask),
    dns: undefined,
    nfsRoot: opt('nfsRoot', checks.absPath),
    nfsReadOnly: v.nfsReadOnly === true,
    tftpRoot: opt('tftpRoot', checks.absPath),
  };
  if (v.dns !== undefined) {
    if (!Array.isArray(v.dns)) throw errors.badValue(`${where}.dns`, `${show(v.dns)} is not a list of IPv4 addresses`);
    out.dns = v.dns.map((d, i) => one(`dns[${i}]`, d, checks.ipv4));
  }
  if (v.nbd !== undefined) {
    const n = (v.nbd ?? {}) as Record<string, unknown>;
    const port = n.port ?? NBD_DEFAULT_PORT;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
      throw errors.badValue(`${where}.nbd.port`, `${show(port)} is not a TCP port (1-65535)`);
    out.nbd = {
      export: one('nbd.export', n.export, checks.export),
      port,
      image: one('nbd.image', n.image, checks.absPath),
      authfile: one('nbd.authfile', n.authfile, checks.absPath),
    };
  }
  return out;
}

/** The dnsmasq tag that ties a host's boot entry to its MAC (OpenWRT's is openwrtTagOf). */
export const tagOf = (host: ServerConfig) => `netboot-${host.name}`;

/**
 * DHCP option 93 (client system architecture, RFC 4578), as dnsmasq tags: 0 is x86 BIOS, 7
 * (EFI BC) and 9 (EFI x86-64) are x86-64 UEFI. A boot file goes only to the firmware it runs on:
 * a UEFI client never gets pxelinux.0 or FreeBSD's BIOS pxeboot, a BIOS client never an .efi.
 */
export const ARCH_TAGS = { bios: 'netboot-bios', efi64: 'netboot-efi64' } as const;
/** iPXE's own DHCP request carries user-class "iPXE": it gets the script, not iPXE again (a loop). */
export const IPXE_TAG = 'netboot-ipxe';
export const ARCH_CODES = { bios: [0], efi64: [7, 9] } as const;

/** The boot files a host hands out, per architecture tag (none for a firmware it does not boot). */
export function bootFilesOf(host: ServerConfig): { arch: keyof typeof ARCH_TAGS | 'ipxe'; file: string }[] {
  return [
    ...(host.ipxeScript ? [{ arch: 'ipxe' as const, file: host.ipxeScript }] : []),
    ...(host.bios ? [{ arch: 'bios' as const, file: host.bootfile }] : []),
    ...(host.efiBootfile ? [{ arch: 'efi64' as const, file: host.efiBootfile }] : []),
  ];
}

/** The network address of `ip` under `netmask`. */
export function networkOf(ip: string, netmask: string): string {
  const a = ip.split('.').map(Number);
  const m = netmask.split('.').map(Number);
  return a.map((x, i) => x & m[i]).join('.');
}

/** The first comment line of every rendered file: who it is for, and that netboot wrote it. */
export const headerOf = (host: ServerConfig) => `# ${host.name} (${host.mac}, ${host.ip}): written by netboot`;

const show = (v: unknown) => JSON.stringify(v) ?? String(v);
