import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors } from '../base/errors.js';
import { start, stopPid } from './processes.js';

export interface NfsServer {
  /** Prefix for commands that must run in the server's network namespace (qemu). */
  enter: string[];
  stop(): Promise<void>;
}

/**
 * nfs-ganesha (with the rpcbind it needs for NFSv3) serving `root` at the path clients ask for,
 * inside a private network and mount namespace: ports 111 and 2049, which the guest's klibc
 * nfsmount insists on, are private to it, so nothing on this machine's network is touched and
 * nothing conflicts with a real NFS server here. `root` is bind-mounted at `exportPath` inside
 * the namespace only. qemu runs in the namespace too (see `enter`); everything stops by pid.
 */
export async function startNfsServer(
  work: string,
  exportPath: string,
  root: string,
  client = '127.0.0.1',
): Promise<NfsServer> {
  const pids: number[] = [];
  const stop = async () => {
    for (const pid of pids.reverse()) await stopPid(pid, 5000);
  };
  try {
    // The published path goes through symlinks (the live link, the release's disk link), and
    // ganesha resolves an export's Path, so a client mounting the path as written is refused.
    // Inside the namespace only: a tmpfs over the nearest ancestor that is a real directory, the
    // path made of plain directories in it, and the copy bind-mounted at its end.
    let parent = dirname(exportPath);
    while (parent !== '/' && realpathSync(parent) !== parent) parent = dirname(parent);
    const target = exportPath;
    if (`${work}/`.startsWith(`${parent}/`))
      throw errors.serverFailed(
        'nfs-ganesha',
        `cannot serve ${exportPath}: its real ancestor ${parent} also holds the boot test's own files`,
      );
    // ganesha resolves Bind_Addr for IPv6 with AI_ADDRCONFIG: lo needs a global v6 address too.
    const holder = start('unshare', [
      '--net',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-ec',
      'mount -t tmpfs -o mode=755 tmpfs /run; mkdir -p /run/rpcbind; ip link set lo up; ' +
        'ip -6 addr add fd00:6e62::1/128 dev lo; ' +
        `mkdir /run/netboot-root; mount --bind '${root}' /run/netboot-root; ` +
        `mount -t tmpfs -o mode=755 tmpfs '${parent}'; mkdir -p '${target}'; ` +
        `mount --bind /run/netboot-root '${target}'; exec sleep infinity`,
    ]);
    pids.push(holder.child.pid!);
    const enter = ['nsenter', '-t', String(holder.child.pid), '-n', '-m'];
    const inNs = (cmd: string[]) => start(enter[0], [...enter.slice(1), ...cmd]);
    const until = async (what: string, test: () => Promise<boolean>) => {
      for (let i = 0; i < 100; i++) {
        if (await test()) return;
        await sleep(100);
      }
      throw errors.serverFailed(what, `not ready after 10 s${holder.output() ? `: ${holder.output().trim()}` : ''}`);
    };
    const ok = (cmd: string[]) => new Promise<boolean>((res) => inNs(cmd).child.on('close', (c) => res(c === 0)));
    await until('namespace', () =>
      ok(['sh', '-c', `ip -6 addr show dev lo | grep -q fd00:6e62 && mountpoint -q '${target}'`]),
    );
    const rpcbind = inNs(['rpcbind', '-f']);
    pids.push(rpcbind.child.pid!);
    await until('rpcbind', () => ok(['rpcinfo', '-p', '127.0.0.1']));
    const conf = join(work, 'ganesha.conf');
    mkdirSync(join(work, 'recov'), { recursive: true });
    writeFileSync(
      conf,
      `NFS_CORE_PARAM { Bind_Addr = 127.0.0.1; NFS_Port = 2049; MNT_Port = 20048; \
Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; Protocols = 3, 4; }
NFSV4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = "${join(work, 'recov')}"; }
EXPORT { Export_Id = 1; Path = ${exportPath}; Pseudo = ${exportPath}; Access_Type = RW; Squash = No_Root_Squash; \
Protocols = 3, 4; Transports = TCP; SecType = sys; FSAL { Name = VFS; } \
CLIENT { Clients = ${client}; Access_Type = RW; } }
LOG { Default_Log_Level = EVENT; }
`,
    );
    const ganesha = inNs([
      'ganesha.nfsd',
      '-F',
      '-f',
      conf,
      '-L',
      join(work, 'ganesha.log'),
      '-p',
      join(work, 'ganesha.pid'),
    ]);
    pids.push(ganesha.child.pid!);
    await until('nfs-ganesha', () => ok(['sh', '-c', "rpcinfo -p 127.0.0.1 | grep -q ' 20048  mountd'"]));
    return { enter, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
