import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { errors } from '../../base/errors.js';
import type { DhcpMode } from '../../boot/serve/dnsmasq.js';
import { serveSite } from '../../boot/serve/site.js';
import type { Command, CommandContext, Parsed } from '../command.js';
import { Session } from '../session.js';
import { siteDir } from '../site.js';
import { execWord, unitPath } from '../systemd-quote.js';

const IFACE = /^[A-Za-z0-9._-]{1,15}$/;

/** Each interface's IPv4 addresses, from `ip -o -4 addr show`. */
function addresses(): Map<string, string[]> {
  const r = spawnSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' });
  const out = new Map<string, string[]>();
  for (const m of (r.stdout ?? '').matchAll(/^\d+: (\S+?)(?:@\S+)? +inet ([\d.]+)\//gm))
    out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  return out;
}

/** The interface to serve on and the address there: the one holding san.server unless told. */
export function pickInterface(
  file: string,
  server: string,
  given: string | undefined,
): { iface: string; addr: string } {
  const addrs = addresses();
  if (given === undefined) {
    const held = [...addrs].find(([, a]) => a.includes(server));
    if (!held) throw errors.badOption(`no interface here holds the SAN address ${server}: name one (--interface IF)`);
    return { iface: held[0], addr: server };
  }
  const known = existsSync('/sys/class/net') ? readdirSync('/sys/class/net').sort() : [];
  if (!IFACE.test(given) || !known.includes(given)) throw errors.interfaceUnknown(file, given, known);
  const mine = addrs.get(given) ?? [];
  if (!mine.length) throw errors.badOption(`--interface ${given} has no IPv4 address to serve on`);
  return { iface: given, addr: mine.includes(server) ? server : mine[0] };
}

/** A systemd unit that runs this same command (config, interface and DHCP mode as given). */
export function renderUnit(o: { node: string; bin: string; config: string; dir: string; args: string[] }): string {
  return [
    '[Unit]',
    `Description=netboot serve: DHCP/TFTP, NBD, NFS and iSCSI for the site of ${unitPath(o.config)}`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `WorkingDirectory=${unitPath(o.dir)}`,
    `ExecStart=${[o.node, o.bin, 'serve', '--config', o.config, ...o.args].map(execWord).join(' ')}`,
    'KillSignal=SIGTERM',
    'TimeoutStopSec=30',
    'Restart=on-failure',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

async function run(args: Parsed, ctx: CommandContext): Promise<number> {
  const dhcp = (args.values.dhcp ?? 'full') as string;
  if (dhcp !== 'full' && dhcp !== 'proxy') throw errors.badOption(`--dhcp ${dhcp}: choose full or proxy`);
  const session = await Session.open({
    config: args.values.config as string | undefined,
    cwd: ctx.io.cwd,
    warn: ctx.warn,
  });
  const { file, san, dir } = session.config;
  const { iface, addr } = pickInterface(file, san.server, args.values.interface as string | undefined);
  if (args.values['install-unit']) {
    const unitDir = resolve(ctx.io.cwd, (args.values['unit-dir'] as string | undefined) ?? '/etc/systemd/system');
    mkdirSync(unitDir, { recursive: true });
    const unit = join(unitDir, 'netboot-serve.service');
    const bin = resolve(process.argv[1]);
    writeFileSync(
      unit,
      renderUnit({ node: process.execPath, bin, config: file, dir, args: ['--interface', iface, '--dhcp', dhcp] }),
    );
    ctx.io.out(`wrote ${unit}; start it with: systemctl daemon-reload && systemctl enable --now netboot-serve`);
    return 0;
  }
  const site = siteDir(session.config);
  try {
    readlinkSync(site);
  } catch {
    throw errors.notPublished('site', site);
  }
  const runDir = mkdtempSync(join(tmpdir(), 'netboot-serve-'));
  try {
    await serveSite({ site, iface, addr, dhcp: dhcp as DhcpMode, run: runDir, log: (l) => ctx.io.out(l) }, ctx.signal);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
  return 0;
}

export const serve: Command = {
  summary: "Run the SAN's servers for the published site in the foreground (dnsmasq, nbd-server, NFS, tgtd).",
  usage: 'netboot serve [--dhcp full|proxy] [--interface IF] [--install-unit [--unit-dir DIR]]',
  options: {
    dhcp: { type: 'string' },
    interface: { type: 'string' },
    'install-unit': { type: 'boolean' },
    'unit-dir': { type: 'string' },
  },
  run,
};
