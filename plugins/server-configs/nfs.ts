import { createHash } from 'node:crypto';
import type { ServerConfig } from './params.js';

const header = (h: ServerConfig) => `# ${h.name} (${h.mac}, ${h.ip}): written by netboot\n`;

/** /etc/exports.d line for a Linux NFS server: this host only, never `*`. */
export function renderNfsExports(h: ServerConfig): string {
  const access = h.nfsReadOnly ? 'ro' : 'rw';
  return `${header(h)}${h.nfsRoot} ${h.ip}(${access},sync,no_root_squash,no_subtree_check)\n`;
}

/** The same export for nfs-ganesha (user space; what the boot test runs). */
export function renderGaneshaExport(h: ServerConfig): string {
  // A stable id per host: ganesha wants a unique number per export.
  const id = (parseInt(createHash('sha256').update(h.name).digest('hex').slice(0, 6), 16) % 60000) + 2;
  return `${header(h)}EXPORT {
  Export_Id = ${id};
  Path = "${h.nfsRoot}";
  Pseudo = "${h.nfsRoot}";
  Access_Type = ${h.nfsReadOnly ? 'RO' : 'RW'};
  Squash = No_Root_Squash;
  Protocols = 3, 4;
  Transports = TCP;
  FSAL { Name = VFS; }
  CLIENT { Clients = ${h.ip}; }
}
`;
}

/** An /etc/exports line for a FreeBSD NFS server. */
export function renderFreebsdExports(h: ServerConfig): string {
  return `${header(h)}${h.nfsRoot} ${h.nfsReadOnly ? '-ro ' : ''}-maproot=0 -alldirs ${h.ip}\n`;
}
