// The NFS server for the site: the kernel's nfsd when this machine has one (exportfs, nothing
// written to /etc), nfs-ganesha in user space otherwise.
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sh } from '../../plugins/debian/chroot.js';
import { start, stopPid } from '../processes.js';
import { foreground, type Running, runOk, until } from './running.js';

/** The kernel's NFS server is usable: nfsd's file system is mounted and exportfs is there. */
export const kernelNfsd = () => existsSync('/proc/fs/nfsd/exports') && existsSync('/usr/sbin/exportfs');

export async function startNfs(site: string, addr: string, run: string): Promise<Running | undefined> {
  const ganesha = join(site, 'ganesha/netboot.conf');
  if (!existsSync(ganesha)) return undefined;
  return kernelNfsd() ? startKernelNfs(site) : startGanesha(ganesha, addr, run);
}

/** `exportfs -o OPTS CLIENT:PATH` per line of the site's exports file; `-u` undoes each at stop. */
async function startKernelNfs(site: string): Promise<Running> {
  const lines = readFileSync(join(site, 'exports.d/netboot.exports'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'));
  const done: string[] = [];
  const stop = async () => {
    for (const spec of done.reverse()) await runOk('exportfs', 'exportfs', ['-u', spec]).catch(() => undefined);
  };
  try {
    for (const l of lines) {
      const m = /^(\S+) ([\d.]+)\(([^)]*)\)$/.exec(l);
      if (!m) continue;
      await runOk('exportfs', 'exportfs', ['-o', m[3], `${m[2]}:${m[1]}`]);
      done.push(`${m[2]}:${m[1]}`);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { name: 'nfsd (kernel)', stop };
}

/** The export paths of the site's ganesha file, as clients ask for them. */
export function ganeshaPaths(text: string): string[] {
  return [...text.matchAll(/^\s*Path = "([^"]+)";$/gm)].map((m) => m[1]);
}

/**
 * nfs-ganesha and its rpcbind in a mount namespace of their own. ganesha resolves an export's
 * Path, and a published root is reached through links (the live link, the disk link), so a client
 * asking for the path as written would be refused: inside the namespace only, each path's real
 * directory is bind-mounted at that path (tmpfs over the nearest ancestor that is a real dir).
 */
async function startGanesha(file: string, addr: string, run: string): Promise<Running> {
  const paths = ganeshaPaths(readFileSync(file, 'utf8'));
  const binds = paths.map((p, i) => ({ p, real: realpathSync(p), hold: `/run/netboot-nfs/${i}` }));
  const tops = [...new Set(paths.map(realAncestor))];
  const script = [
    'mount -t tmpfs -o mode=755 tmpfs /run',
    'mkdir -p /run/rpcbind',
    // Resolved paths come from links on the SAN: each is one quoted word, never code.
    ...binds.flatMap((b) => [sh`mkdir -p ${b.hold}`, sh`mount --bind ${b.real} ${b.hold}`]),
    ...tops.map((t) => sh`mount -t tmpfs -o mode=755 tmpfs ${t}`),
    ...binds.flatMap((b) => [sh`mkdir -p ${b.p}`, sh`mount --bind ${b.hold} ${b.p}`]),
    'touch /run/netboot-ready',
    'exec sleep infinity',
  ].join('; ');
  const holder = start('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', script]);
  const started: Running[] = [{ name: 'namespace', stop: () => stopPid(holder.child.pid!) }];
  const stop = async () => {
    for (const r of started.reverse()) await r.stop();
  };
  try {
    const enter = ['nsenter', '-t', String(holder.child.pid), '-m'];
    const ready = () =>
      runOk('nsenter', enter[0], [...enter.slice(1), 'test', '-e', '/run/netboot-ready']).then(
        () => true,
        () => false,
      );
    await until('nfs namespace', ready);
    started.push(await foreground('rpcbind', enter[0], [...enter.slice(1), 'rpcbind', '-f', '-h', addr]));
    const conf = join(run, 'ganesha.conf');
    mkdirSync(join(run, 'recov'), { recursive: true });
    writeFileSync(conf, ganeshaMain(file, addr, join(run, 'recov')));
    started.push(
      await foreground('nfs-ganesha', enter[0], [
        ...enter.slice(1),
        ...['ganesha.nfsd', '-F', '-f', conf, '-L', join(run, 'ganesha.log'), '-p', join(run, 'ganesha.pid')],
      ]),
    );
    // Ready once its mount daemon is registered (klibc's nfsmount asks rpcbind for it).
    const mountd = () =>
      runOk('rpcinfo', 'rpcinfo', ['-p', addr]).then(
        (out) => / 20048 {2}mountd/.test(out),
        () => false,
      );
    await until('nfs-ganesha', mountd, 20_000);
    return { name: 'nfs-ganesha', stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The main ganesha config: NFSv3 and v4 on the interface's address, the site's exports included. */
export function ganeshaMain(exports: string, addr: string, recov: string): string {
  return `# written by netboot serve
NFS_CORE_PARAM { Bind_Addr = ${addr}; NFS_Port = 2049; MNT_Port = 20048; \
Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; Protocols = 3, 4; }
NFSV4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = "${recov}"; }
LOG { Default_Log_Level = EVENT; }
%include "${exports}"
`;
}

/** The nearest ancestor of `p` that is a real directory (not reached through a link). */
function realAncestor(p: string): string {
  let parent = dirname(p);
  while (parent !== '/' && realpathSync(parent) !== parent) parent = dirname(parent);
  return parent;
}
