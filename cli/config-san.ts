// Where a config may put its SAN roots, and which host names it may use: publishing writes host
// directories and symlinks into each root, and gc deletes below the cache, so a root on a system
// directory, inside the cache or inside another root is refused before anything is written.
import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, sep } from 'node:path';
import { errors } from '../base/errors.js';
import { isMissing } from '../base/errno.js';

export type RootName = 'tftp' | 'nfs' | 'nbd' | 'conf';

/** Never a root themselves: publishing into them would replace files the build host lives on. */
const SYSTEM_DIRS = [
  '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32', '/media', '/mnt', '/opt', '/proc',
  '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var', '/var/lib', '/var/cache', '/var/log', '/var/tmp',
];
/** Nothing below them is a SAN: they hold the system itself (or are kernel file systems). */
const SYSTEM_TREES = ['/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/sbin', '/sys', '/usr'];
/** Root paths are written into nbd-server, dnsmasq, dhcpd and exports files: nothing that splits or quotes a field. */
const PATH_CHARS = /^\/[A-Za-z0-9._+@~/-]*$/;
const SSH_URL = /^ssh:\/\/(?:([^@/]*)@)?([^/:@]*)(?::(\d+))?(\/.*)$/;
const SSH_USER = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/;
const SSH_HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

/**
 * Names a host may not have: what netboot or a boot loader puts beside the host directories at a
 * root's top (pxelinux.cfg/ holds the stable links, .releases/ and .disks/ the releases), and
 * the names PXE, EFI and GRUB clients look for there. Compared without case: TFTP clients and
 * some SAN file systems do not keep it.
 */
export const RESERVED_HOST_NAMES = [
  'pxelinux.cfg', 'pxelinux.0', 'lpxelinux.0', 'gpxelinux.0', 'ldlinux.c32', 'grub', 'grub2', 'efi', 'boot', 'ipxe',
  'conf', 'releases', 'disks', 'default', 'lost+found',
];

/** The host-name part of a config error, or nothing if the name is free. */
export function reservedHostName(name: string): string | undefined {
  if (!RESERVED_HOST_NAMES.includes(name.toLowerCase())) return undefined;
  return `"${name}" is a name netboot or a boot loader uses at the top of a SAN root`;
}

/** Checks an ssh:// root's syntax (its path is checked with the local ones); returns the problem, or nothing. */
export function sshRootProblem(url: string): string | undefined {
  const m = SSH_URL.exec(url);
  if (!m) return 'is not ssh://user@host[:port]/path';
  const [, user, host, port, path] = m;
  // ssh takes an argument that begins with '-' as an option (-oProxyCommand=...): refused, not escaped.
  if (user !== undefined && !SSH_USER.test(user))
    return `has user "${user}", which is not a user name (letters, digits, '._-', not starting with '-')`;
  if (!SSH_HOST.test(host)) return `has host "${host}", which is not a host name or IPv4 address`;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    return `has port ${port}, which is not a TCP port (1-65535)`;
  return path ? undefined : 'has no path';
}

function pathProblem(path: string): string | undefined {
  if (!PATH_CHARS.test(path))
    return "has characters other than letters, digits and '._+@~-/' (the path is written into server configs)";
  if (path.split('/').some((part) => part === '..' || part === '.')) return "has '.' or '..' parts";
  const p = trim(path);
  if (p === '/') return 'is the root directory';
  if (SYSTEM_DIRS.includes(p)) return `is the system directory ${p}`;
  const tree = SYSTEM_TREES.find((d) => inside(p, d));
  if (tree) return `is inside the system directory ${tree}`;
  return undefined;
}

/**
 * Checks the local roots (absolute paths) and ssh:// roots of a config against the system, the
 * cache, the config's own directory and each other. Throws the first problem, naming its field.
 */
export function checkSanRoots(roots: Record<RootName, string>, cache: string, configDir: string): void {
  const where: { name: RootName; key: string; path: string }[] = [];
  for (const name of ['tftp', 'nfs', 'nbd', 'conf'] as const) {
    const v = roots[name];
    const field = `san.${name}`;
    if (v.startsWith('ssh://')) {
      const m = SSH_URL.exec(v)!;
      const why = pathProblem(m[4]);
      if (why) throw errors.sanRootUnsafe(field, v, why);
      where.push({ name, key: `${m[2]}:${m[3] ?? '22'}`, path: trim(m[4]) });
      continue;
    }
    const real = realish(v);
    const why = pathProblem(v) ?? (real !== v ? pathProblem(real) : undefined);
    const via = real !== v && !pathProblem(v) ? ` (through a symlink: ${real})` : '';
    if (why) throw errors.sanRootUnsafe(field, v, why + via);
    if (real === trim(homedir())) throw errors.sanRootUnsafe(field, v, 'is your home directory');
    const realCache = realish(cache);
    if (real === realCache) throw errors.sanRootOverlap(field, v, 'is the cache directory');
    if (inside(real, realCache)) throw errors.sanRootOverlap(field, v, `is inside the cache ${cache} (gc would delete it)`);
    if (inside(realCache, real)) throw errors.sanRootOverlap(field, v, `holds the cache ${cache}`);
    if (inside(realish(configDir), real))
      throw errors.sanRootOverlap(field, v, `holds the config's directory ${configDir} (a host directory could replace your files)`);
    where.push({ name, key: 'local', path: real });
  }
  for (let i = 0; i < where.length; i++)
    for (let j = 0; j < i; j++) {
      const [a, b] = [where[j], where[i]];
      if (a.key !== b.key) continue;
      const how =
        a.path === b.path ? 'is the same directory as' : inside(b.path, a.path) ? 'is inside' : inside(a.path, b.path) ? 'holds' : undefined;
      if (how)
        throw errors.sanRootOverlap(`san.${b.name}`, roots[b.name], `${how} san.${a.name} (${roots[a.name]}): each root needs its own directory`);
    }
}

const trim = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p);

/** `p` is `dir` or below it. */
function inside(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir === '/' ? '/' : dir + sep);
}

/** The real path of `p`, through the symlinks of its longest existing ancestor (a root may not exist yet). */
function realish(p: string): string {
  let head = trim(p);
  const rest: string[] = [];
  for (;;) {
    try {
      return trim(join(realpathSync(head), ...rest.reverse()));
    } catch (e) {
      if (!isMissing(e)) throw e;
      if (head === dirname(head)) return trim(p);
      rest.push(basename(head));
      head = dirname(head);
    }
  }
}
