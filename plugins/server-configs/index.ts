import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { definePlugin } from '../../core/plugin.js';
import { renderDhcpdHost } from './dhcpd.js';
import { renderDnsmasqHost, renderDnsmasqProxy, renderDnsmasqSite } from './dnsmasq.js';
import { renderNbdAuthfile, renderNbdExport } from './nbd.js';
import { renderFreebsdExports, renderGaneshaExport, renderNfsExports } from './nfs.js';
import { renderOpenwrtDhcp } from './openwrt.js';
import { checkServerConfig, type ServerConfigInput, serverConfigShape } from './params.js';

export { renderDhcpdHost } from './dhcpd.js';
export { pxeBasename, renderDnsmasqHost, renderDnsmasqProxy, renderDnsmasqSite } from './dnsmasq.js';
export {
  NBD_DEFAULT_PORT,
  type NbdListen,
  nbdRootArg,
  renderNbdAuthfile,
  renderNbdExport,
  renderNbdStandalone,
} from './nbd.js';
export { renderFreebsdExports, renderGaneshaExport, renderNfsExports } from './nfs.js';
export { renderOpenwrtDhcp } from './openwrt.js';
export { checkServerConfig, type ServerConfig, type ServerConfigInput, serverConfigShape } from './params.js';

/**
 * Every file of a host's server-config tree, by path. Pure: the same host gives the same bytes.
 * The NBD files exist only for a host with an NBD export, the site example only with a TFTP root.
 * Files ending in `.example` are for an admin to adapt, not to include as they are.
 */
export function renderServerConfigs(input: ServerConfigInput): Record<string, string> {
  const host = checkServerConfig(input);
  const files: Record<string, string> = {};
  if (host.nbd) {
    files[`nbd-server/conf.d/${host.nbd.export}.conf`] = renderNbdExport(host);
    files[`nbd-server/allow/${host.name}`] = renderNbdAuthfile(host);
  }
  files[`dnsmasq.d/${host.name}.conf`] = renderDnsmasqHost(host);
  files[`dnsmasq.d/${host.name}-proxy.conf.example`] = renderDnsmasqProxy(host);
  if (host.tftpRoot) files['dnsmasq.d/site.conf.example'] = renderDnsmasqSite(host);
  files[`openwrt/dhcp-${host.name}`] = renderOpenwrtDhcp(host);
  files[`dhcpd/${host.name}.conf`] = renderDhcpdHost(host);
  if (host.nfsRoot) {
    files[`exports.d/${host.name}.exports`] = renderNfsExports(host);
    files[`ganesha/${host.name}.conf`] = renderGaneshaExport(host);
    files[`freebsd/exports-${host.name}`] = renderFreebsdExports(host);
  }
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** A host's DHCP, TFTP and NBD server configs as one tree, for publishing to the SAN's conf root. */
export const serverConfigsPlugin = definePlugin({
  name: 'server-configs',
  version: '1',
  description: 'nbd-server, dnsmasq, OpenWRT and ISC dhcpd configs for one host',
  params: serverConfigShape,
  produces: { tree: 'tree' },
  async run(ctx) {
    const root = ctx.outputs.tree;
    await chmod(root, 0o755);
    for (const [path, content] of Object.entries(renderServerConfigs(ctx.params))) {
      const dest = join(root, path);
      await mkdir(dirname(dest), { recursive: true, mode: 0o755 });
      await writeFile(dest, content);
      await chmod(dest, 0o644);
    }
  },
});
