import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { errors } from '../../base/errors.js';
import { type NbdServer, startNbdServer } from '../../boot/nbd-server.js';
import { type NfsServer, startNfsServer } from '../../boot/nfs-server.js';
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
  usage: 'netboot boot-test <host> [--timeout SECONDS]',
  options: { timeout: { type: 'string' } },
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
    const hostTftp = join(tftp, host);
    const cfg = join(hostTftp, 'pxelinux.cfg', `01-${h.info.mac.replace(/:/g, '-')}`);
    // A host that is live but has no PXELINUX entry boots something else (FreeBSD's pxeboot).
    if (!existsSync(cfg) && existsSync(hostTftp))
      throw errors.bootTestUnsupported(
        host,
        `its TFTP directory ${hostTftp} has no PXELINUX entry: ` +
          'the boot test boots Linux hosts (PXELINUX, NBD or NFS root) only',
      );
    if (!existsSync(cfg)) throw errors.notPublished(host, cfg);
    const append = /^\s*APPEND\s+(.*)$/m.exec(readFileSync(cfg, 'utf8'))?.[1] ?? '';
    const nfsroot = /(?:^|\s)nfsroot=([^\s,:]+):([^\s,]+)/.exec(append);
    if (/(?:^|\s)root=\/dev\/nfs(\s|$)/.test(append) && nfsroot)
      return bootNfs(ctx, host, h.info.mac, tftp, nfsroot[1], nfsroot[2], timeout);
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
        const copyCfg = join(tftpRoot, host, 'pxelinux.cfg', `01-${h.info.mac.replace(/:/g, '-')}`);
        writeFileSync(
          copyCfg,
          readFileSync(copyCfg, 'utf8').replace(/nbdroot=\S+/, `nbdroot=${QEMU_HOST}:${port}/${nbdroot.exportName}`),
        );
        ctx.io.out(`${host}: port ${nbdroot.port} is taken here; booting with nbdroot on port ${port}`);
      }
      server = await startNbdServer(work, nbdroot.exportName, copy, port);
      ctx.io.out(`${host}: nbd-server on 127.0.0.1:${port}; booting ${host}/pxelinux.0 under qemu (tcg)`);
      return await bootToLogin(
        ctx,
        host,
        { tftpRoot, bootFile: `${host}/pxelinux.0`, mac: h.info.mac, consoleLog: join(work, 'console.log') },
        timeout,
      );
    } finally {
      await server?.stop();
      rmSync(work, { recursive: true, force: true });
    }
  },
};

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
): Promise<number> {
  if (server !== QEMU_HOST)
    throw errors.bootTestUnsupported(
      host,
      `its NFS server is ${server}; the boot test serves san.server ${QEMU_HOST} (qemu's host address)`,
    );
  if (!existsSync(path)) throw errors.notPublished(host, path);
  const work = mkdtempSync(join(tmpdir(), `netboot-boot-${host}-`));
  let nfs: NfsServer | undefined;
  try {
    const copy = join(work, 'root');
    await copyTree(realpathSync(path), copy);
    nfs = await startNfsServer(work, path, copy);
    ctx.io.out(
      `${host}: nfs-ganesha serving ${path} (a copy) in a private network namespace; ` +
        `booting ${host}/pxelinux.0 under qemu (tcg)`,
    );
    return await bootToLogin(
      ctx,
      host,
      {
        tftpRoot: realpathSync(tftp),
        bootFile: `${host}/pxelinux.0`,
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

/** Boots and waits for the login prompt: exit 0, or BOOT_FAILED with the last console lines. */
async function bootToLogin(ctx: CommandContext, host: string, boot: PxeBoot, timeout: number): Promise<number> {
  const res = await pxeBoot(boot, /login:/, timeout * 1000, ctx.signal);
  if (!res.ok) throw errors.bootFailed(host, res.reason, res.tail);
  ctx.io.out(`${host}: login prompt after ${res.seconds.toFixed(1)} s`);
  return 0;
}
