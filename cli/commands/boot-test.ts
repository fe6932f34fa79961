import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { errors } from '../../base/errors.js';
import { bootEntry } from '../../boot/entry.js';
import { type HttpServer, startHttpServer } from '../../boot/http-server.js';
import { type NbdServer, startNbdServer } from '../../boot/nbd-server.js';
import { type NfsServer, startNfsServer } from '../../boot/nfs-server.js';
import { BOOT_FIRMWARES, type BootFirmware, missingOvmf } from '../../boot/ovmf.js';
import { freePort } from '../../boot/processes.js';
import { type PxeBoot, pxeBoot } from '../../boot/qemu.js';
import { copySparseFile, copyTree } from '../../cache/copy.js';
import { NBD_DEFAULT_PORT } from '../../plugins/server-configs/index.js';
import type { Command, CommandContext } from '../command.js';
import { Session } from '../session.js';

const run = promisify(execFile);
const QEMU_HOST = '10.0.2.2';

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** `nbdroot=` as the host's pxelinux entry has it: SERVER,EXPORT,nbdX or SERVER[:PORT]/EXPORT. */
function parseNbdroot(append: string): { server: string; port: number; exportName: string } | undefined {
  const v = /(?:^|\s)nbdroot=(\S+)/.exec(append)?.[1];
  if (!v) return undefined;
  const comma = /^([^,:/]+),([^,]+)(,.*)?$/.exec(v);
  if (comma) return { server: comma[1], port: NBD_DEFAULT_PORT, exportName: comma[2] };
  const slash = /^([^:/]+)(?::(\d+))?\/(.+)$/.exec(v);
  if (slash) return { server: slash[1], port: Number(slash[2] ?? NBD_DEFAULT_PORT), exportName: slash[3] };
  return undefined;
}

export const bootTest: Command = {
  summary: 'PXE-boot the published release of a host in qemu (TCG) and wait for the login prompt.',
  usage: 'netboot boot-test <host> [--firmware bios|uefi|secureboot] [--timeout SECONDS]',
  options: { timeout: { type: 'string' }, firmware: { type: 'string' } },
  async run(args, ctx) {
    const host = args.positionals[0];
    if (!host || args.positionals.length !== 1) throw errors.badOption(`usage: ${bootTest.usage}`);
    const timeout = Number(args.values.timeout ?? 300);
    if (!(timeout > 0)) throw errors.badOption(`--timeout: "${args.values.timeout}" is not a number of seconds`);
    const session = await Session.open({
      config: args.values.config as string | undefined,
      cwd: ctx.io.cwd,
      warn: ctx.warn,
    });
    const h = session.config.hosts.get(host);
    if (!h) throw errors.unknownHost(host, session.hostNames());
    const { tftp, nbd } = session.config.san;
    if (tftp.startsWith('ssh://') || nbd.startsWith('ssh://'))
      throw errors.bootTestUnsupported(host, 'the boot test needs the SAN roots on this machine');
    const firmware = (args.values.firmware ?? 'bios') as BootFirmware;
    if (!BOOT_FIRMWARES.includes(firmware))
      throw errors.badOption(`--firmware: "${firmware}" is not one of ${BOOT_FIRMWARES.join(', ')}`);
    return bootHost(ctx, { host, mac: h.info.mac, tftp, nbd, firmware, timeout });
  },
};

/** What to boot: the host, and the SAN roots its release is read from (the live ones, or a staged view). */
export interface BootHost {
  host: string;
  mac: string;
  tftp: string;
  nbd: string;
  firmware: BootFirmware;
  /** Seconds to wait for `login:`. */
  timeout: number;
  /** Where an NFS root named by the boot entry is read from (a staged release is not at its live path yet). */
  nfsSource?: (path: string) => string;
}

/**
 * Boots a host's release from `tftp` and `nbd` (or its NFS root) in qemu and waits for the login
 * prompt: 0, or BOOT_FAILED with the console's last lines.
 */
export async function bootHost(ctx: CommandContext, o: BootHost): Promise<number> {
  const { host, tftp, nbd, firmware, timeout } = o;
  const h = { info: { mac: o.mac } };
  const missing = missingOvmf(firmware);
  if (missing.length) throw errors.missingTool(missing[0], 'ovmf', host, 'boot-test');
  const hostTftp = join(tftp, host);
  const entry = bootEntry(hostTftp, host, h.info.mac, firmware);
  const cfg = join(hostTftp, entry.file);
  // A host that is live but has no entry for this firmware boots something else (FreeBSD's pxeboot, BIOS only).
  if (entry.append === undefined && existsSync(hostTftp))
    throw errors.bootTestUnsupported(
      host,
      `its TFTP directory ${hostTftp} has no ${firmware === 'bios' ? 'PXELINUX' : 'GRUB (UEFI)'} entry: ` +
        'the boot test boots Linux hosts (PXELINUX or shim + GRUB, NBD or NFS root) only',
    );
  if (entry.append === undefined) throw errors.notPublished(host, cfg);
  for (const f of entry.site) if (!existsSync(join(tftp, f))) throw errors.notPublished(host, join(tftp, f));
  if (entry.ipxe && firmware === 'secureboot')
    throw errors.bootTestUnsupported(host, "its loader is iPXE, which Debian's ipxe does not sign for Secure Boot");
  const append = entry.append;
  const boot = { firmware, bootFile: entry.bootFile, ipxeRom: entry.ipxe };
  const nfsroot = /(?:^|\s)nfsroot=([^\s,:]+):([^\s,]+)/.exec(append);
  if (/(?:^|\s)root=\/dev\/nfs(\s|$)/.test(append) && nfsroot)
    return bootNfs(ctx, host, h.info.mac, tftp, nfsroot[1], nfsroot[2], timeout, boot, o.nfsSource);
  const nbdroot = parseNbdroot(append);
  if (!nbdroot)
    throw errors.bootTestUnsupported(host, `its boot entry ${cfg} has neither nbdroot= nor root=/dev/nfs nfsroot=`);
  const disk = join(nbd, host, 'disk.img');
  if (!existsSync(disk)) throw errors.notPublished(host, disk);
  if (nbdroot.server !== QEMU_HOST)
    throw errors.bootTestUnsupported(
      host,
      `its SAN address is ${nbdroot.server}; the boot test serves san.server ${QEMU_HOST} (qemu's host address)`,
    );

  // Setup in order, cleanup in reverse, always.
  const work = mkdtempSync(join(tmpdir(), `netboot-boot-${host}-`));
  let server: NbdServer | undefined;
  let http: HttpServer | undefined;
  try {
    // The guest writes to its root: it boots a copy, so the published disk stays as published.
    const copy = join(work, 'disk.img');
    await copySparseFile(realpathSync(disk), copy);
    // qemu's user network takes the guest's 10.0.2.2:PORT to this machine's 127.0.0.1:PORT, and
    // cannot remap a port on 10.0.2.2. So the release boots exactly as published when its port
    // is free here; otherwise it boots from a copy of its TFTP directory whose entry names a free port.
    let tftpRoot = realpathSync(tftp);
    let port = nbdroot.port;
    if (!(await portFree(port))) {
      port = await freePort();
      tftpRoot = join(work, 'tftp');
      // cp creates only the last component of its target.
      mkdirSync(tftpRoot);
      await run('cp', ['-rL', hostTftp, join(tftpRoot, host)]);
      for (const f of entry.site) await run('cp', ['-L', '--parents', f, tftpRoot], { cwd: tftp });
      const copyCfg = join(tftpRoot, host, entry.file);
      writeFileSync(
        copyCfg,
        readFileSync(copyCfg, 'utf8').replace(/nbdroot=[^\s']+/, `nbdroot=${QEMU_HOST}:${port}/${nbdroot.exportName}`),
      );
      ctx.io.out(`${host}: port ${nbdroot.port} is taken here; booting with nbdroot on port ${port}`);
    }
    server = await startNbdServer(work, nbdroot.exportName, copy, port);
    if (entry.http) http = await serveHttp(ctx, host, entry.http, tftpRoot);
    ctx.io.out(`${host}: nbd-server on 127.0.0.1:${port}; booting ${boot.bootFile} (${firmware}) under qemu (tcg)`);
    return await bootToLogin(
      ctx,
      host,
      { tftpRoot, ...boot, mac: h.info.mac, consoleLog: join(work, 'console.log') },
      timeout,
    );
  } finally {
    if (http) ctx.io.out(`${host}: ${http.sent()} bytes over HTTP`);
    await http?.stop();
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * iPXE over HTTP: the TFTP root served at the script's base URL, which must be qemu's host
 * address (the guest's 10.0.2.2:PORT is this machine's 127.0.0.1:PORT).
 */
async function serveHttp(ctx: CommandContext, host: string, base: string, tftpRoot: string): Promise<HttpServer> {
  const m = /^http:\/\/([\d.]+)(?::(\d+))?(\/.*\/)?$/.exec(base);
  if (!m || m[1] !== QEMU_HOST || !m[3]?.endsWith(`/${host}/`))
    throw errors.bootTestUnsupported(
      host,
      `its iPXE script loads from ${base}; the boot test serves http://${QEMU_HOST}`,
    );
  const prefix = m[3].slice(0, -(host.length + 1));
  const port = Number(m[2] ?? 80);
  if (!(await portFree(port))) throw errors.bootTestUnsupported(host, `port ${port} (san.http) is taken here`);
  ctx.io.out(`${host}: serving the TFTP root over HTTP on 127.0.0.1:${port}${prefix}`);
  return startHttpServer(tftpRoot, port, prefix);
}

/**
 * An NFS root: a private copy of the published root (the guest writes to it) served by
 * nfs-ganesha at the path the boot entry names, inside a private network namespace where qemu
 * runs too, so the guest's 10.0.2.2:111/2049 reach it and nothing else on this machine.
 */
async function bootNfs(
  ctx: CommandContext,
  host: string,
  mac: string,
  tftp: string,
  server: string,
  path: string,
  timeout: number,
  boot: Pick<PxeBoot, 'firmware' | 'bootFile'>,
  source: (path: string) => string = (x) => x,
): Promise<number> {
  if (server !== QEMU_HOST)
    throw errors.bootTestUnsupported(
      host,
      `its NFS server is ${server}; the boot test serves san.server ${QEMU_HOST} (qemu's host address)`,
    );
  if (!existsSync(source(path))) throw errors.notPublished(host, source(path));
  const work = mkdtempSync(join(tmpdir(), `netboot-boot-${host}-`));
  let nfs: NfsServer | undefined;
  try {
    const copy = join(work, 'root');
    await copyTree(realpathSync(source(path)), copy);
    nfs = await startNfsServer(work, path, copy);
    ctx.io.out(
      `${host}: nfs-ganesha serving ${path} (a copy) in a private network namespace; ` +
        `booting ${boot.bootFile} (${boot.firmware}) under qemu (tcg)`,
    );
    return await bootToLogin(
      ctx,
      host,
      {
        tftpRoot: realpathSync(tftp),
        ...boot,
        mac,
        consoleLog: join(work, 'console.log'),
        wrap: nfs.enter,
      },
      timeout,
    );
  } finally {
    await nfs?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Boots and waits for the login prompt: exit 0, or BOOT_FAILED with the last console lines.
 * Under secureboot the kernel must also have said so on its console (it prints `Secure boot
 * enabled` when the firmware enforced it and shim verified the chain).
 */
async function bootToLogin(ctx: CommandContext, host: string, boot: PxeBoot, timeout: number): Promise<number> {
  const res = await pxeBoot(boot, /login:/, timeout * 1000, ctx.signal);
  if (!res.ok) throw errors.bootFailed(host, res.reason, res.tail);
  if (boot.firmware === 'secureboot') {
    const said = /^.*Secure boot enabled.*$/m.exec(readFileSync(boot.consoleLog, 'latin1'));
    if (!said) throw errors.bootFailed(host, 'the kernel did not report "Secure boot enabled"', res.tail);
    ctx.io.out(`${host}: the kernel says: ${said[0].trim()}`);
  }
  ctx.io.out(`${host}: login prompt after ${res.seconds.toFixed(1)} s (${boot.firmware ?? 'bios'})`);
  return 0;
}
