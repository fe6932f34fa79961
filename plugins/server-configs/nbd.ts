// nbd-server: one export per host, reached through the host's live path so that a publish (a
// rename of the live symlink) switches the disk without touching the server's config.
import { errors } from '../../base/errors.js';
import { checks } from '../safe-values.js';
import { checkServerConfig, headerOf, NBD_DEFAULT_PORT, type ServerConfig, type ServerConfigInput } from './params.js';

export { NBD_DEFAULT_PORT };

function nbdOf(host: ServerConfig): NonNullable<ServerConfig['nbd']> {
  if (!host.nbd)
    throw errors.badValue(
      'server-configs.nbd',
      `host ${host.name} has no NBD export (set nbd.export, nbd.image and nbd.authfile)`,
    );
  return host.nbd;
}

/**
 * The kernel argument that makes nbd-client's initramfs script attach the export. The comma form
 * is the one reproduced under qemu, but it has no port field, so another port needs SERVER:PORT/EXPORT.
 */
export function nbdRootArg(input: ServerConfigInput): string {
  const host = checkServerConfig(input);
  const nbd = nbdOf(host);
  return nbd.port === NBD_DEFAULT_PORT
    ? `nbdroot=${host.server},${nbd.export},nbd0`
    : `nbdroot=${host.server}:${nbd.port}/${nbd.export}`;
}

/** A conf.d snippet (`<export>.conf`, no [generic]): the host's export section. */
export function renderNbdExport(input: ServerConfigInput): string {
  const host = checkServerConfig(input);
  return [headerOf(host), `# clients boot with ${nbdRootArg(host)}`, ...exportSection(host), ''].join('\n');
}

/**
 * The authfile: only the host's own address may open its disk. Must exist where `nbd.authfile`
 * says, because nbd-server treats a missing authfile as "allow everyone".
 */
export function renderNbdAuthfile(input: ServerConfigInput): string {
  return `${checkServerConfig(input).ip}\n`;
}

export interface NbdListen {
  /** Address to listen on (e.g. 127.0.0.1 for tests and qemu's user network). */
  listenaddr: string;
  port: number;
  /** A directory of `*.conf` export snippets to load as well (Debian: /etc/nbd-server/conf.d). */
  includedir?: string;
}

/** A whole config file: [generic] with where to listen, then one section per host given. */
export function renderNbdStandalone(listen: NbdListen, inputs: ServerConfigInput[]): string {
  if (!checks.ipv4.pattern.test(listen.listenaddr))
    throw errors.badValue('nbd listenaddr', `${JSON.stringify(listen.listenaddr)} is not ${checks.ipv4.what}`);
  if (!Number.isInteger(listen.port) || listen.port < 1 || listen.port > 65535)
    throw errors.badValue('nbd port', `${listen.port} is not a TCP port (1-65535)`);
  if (listen.includedir !== undefined && !checks.absPath.pattern.test(listen.includedir))
    throw errors.badValue('nbd includedir', `${JSON.stringify(listen.includedir)} is not ${checks.absPath.what}`);
  const hosts = inputs.map((h) => checkServerConfig(h));
  const names = hosts.map((h) => nbdOf(h).export);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw errors.badValue('nbd exports', `two hosts use the export name "${dup}"`);
  const lines = ['# written by netboot', '[generic]', `listenaddr = ${listen.listenaddr}`, `port = ${listen.port}`];
  if (listen.includedir) lines.push(`includedir = ${listen.includedir}`);
  for (const host of hosts) lines.push(...exportSection(host));
  return `${lines.join('\n')}\n`;
}

function exportSection(host: ServerConfig): string[] {
  const nbd = nbdOf(host);
  return [`[${nbd.export}]`, `exportname = ${nbd.image}`, `authfile = ${nbd.authfile}`];
}
