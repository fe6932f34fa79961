// The `san` section of a config, and where it may put its SAN roots: publishing writes host
// directories and symlinks into each root, and gc deletes below the cache, so a root on a system
// directory, inside the cache or inside another root is refused before anything is written.
import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { isMissing } from '../base/errno.js';
import { errors } from '../base/errors.js';
import { p, type Schema, show } from '../core/schema.js';
import { perTarget, TARGET_NAMES, type TargetName } from '../core/targets.js';
import { allowPublicList } from './allow-public.js';

export interface ResolvedSan extends Record<TargetName, string> {
  server: string;
  keep: number;
  reload: Partial<Record<TargetName | 'site', string>>;
  ssh: { identityFile?: string; options?: string[] };
  allowPublic: string[];
  /** The base URL from which the SAN serves the TFTP root over HTTP (iPXE hosts load kernel and initrd from it). */
  http?: string;
  /** The SAN's iSCSI disks (tgt), for hosts whose recipe has `iscsi` params. */
  iscsi: SanIscsi;
}

export interface SanIscsi {
  /** Where netboot creates sparse backing files, and below which a configured file must lie. */
  storage: string;
  disks: Record<string, { backingStore?: string; size: string; secretFile?: string }>;
}

/** A non-empty string, resolved against `dir` (a leading `~/` against the home directory, if `home`). */
export function pathIn(dir: string, home = false) {
  return p.custom<string>('path', (v, path, issues) => {
    if (typeof v !== 'string' || v === '') return void issues.errors.push(`${path}: ${show(v)} is not a path`);
    // No file system call takes a NUL: refused here, before anything resolves the path.
    if (v.includes('\0')) return void issues.errors.push(`${path}: ${show(v)} is not a path (it holds a NUL byte)`);
    return home && v.startsWith('~/') ? resolve(homedir(), v.slice(2)) : resolve(dir, v);
  });
}

/** A SAN root: an ssh:// URL as written, or a local path resolved against the config's directory. */
function sanRoot(dir: string, name: TargetName) {
  const local = pathIn(dir);
  return p
    .custom<string>('path', (v, path, issues) => {
      if (typeof v !== 'string' || !v.startsWith('ssh://')) return local.parse(v, path, issues);
      const why = sshRootProblem(v);
      if (why) issues.errors.push(`${path}: ${show(v)} ${why}`);
      return v;
    })
    .default(resolve(dir, `san/${name}`));
}

/** The `san` section of a config: its roots resolved against the config's directory `dir`. */
export function sanSection(dir: string): Schema<ResolvedSan, unknown> {
  const shape = {
    server: p.ipv4('an IPv4 address (clients have no DNS at boot)').default('10.0.2.2'),
    ...perTarget((name) => sanRoot(dir, name)),
    keep: p
      .custom<number>('number', (v, path, issues) => {
        if (typeof v === 'number' && Number.isInteger(v) && v >= 1) return v;
        issues.errors.push(`${path}: ${show(v)} is not a whole number of releases (1 or more)`);
      })
      .default(3),
    reload: p.record(p.string({ what: 'a command string' }), ONE_TARGET).default({}),
    ssh: p.section({ identityFile: p.optional(pathIn(dir, true)), options: p.optional(p.array(p.string())) }),
    allowPublic: allowPublicList,
    http: p.optional(
      p.string({
        pattern: /^http:\/\/(\d{1,3}\.){3}\d{1,3}(:\d{1,5})?\/([A-Za-z0-9._~-]+\/)*$/,
        what: 'an http:// URL with an IPv4 address, ending in / (clients have no DNS at boot)',
      }),
    ),
    iscsi: p.section({
      storage: pathIn(dir).default(resolve(dir, 'san/iscsi')),
      disks: p
        .record(
          p.section({
            backingStore: p.optional(pathIn(dir)),
            size: p.string({ pattern: /^[1-9]\d*[KMGT]$/, what: 'a size such as 512M or 4G' }).default('1G'),
            secretFile: p.optional(pathIn(dir, true)),
          }),
          { pattern: /^[A-Za-z0-9][A-Za-z0-9._-]*$/, what: 'a host name' },
        )
        .default({}),
    }),
  };
  return p.section(shape);
}

// `site`: the command run after the site release (every host's server configs at once) switches.
const ONE_TARGET = {
  pattern: new RegExp(`^(?:${[...TARGET_NAMES, 'site'].join('|')})$`),
  what: `a target (${TARGET_NAMES.join(', ')}) or site`,
};

/** Never a root themselves: publishing into them would replace files the build host lives on. */
const SYSTEM_DIRS = [
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/home',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/media',
  '/mnt',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/tmp',
  '/usr',
  '/var',
  '/var/lib',
  '/var/cache',
  '/var/log',
  '/var/tmp',
];
/** Nothing below them is a SAN: they hold the system itself (or are kernel file systems). */
const SYSTEM_TREES = [
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/proc',
  '/sbin',
  '/sys',
  '/usr',
];
/** Root paths are written into nbd-server, dnsmasq, dhcpd and exports files: nothing that splits or quotes a field. */
const PATH_CHARS = /^\/[A-Za-z0-9._+@~/-]*$/;
const SSH_URL = /^ssh:\/\/(?:([^@/]*)@)?([^/:@]*)(?::(\d+))?(\/.*)$/;
const SSH_USER = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/;
const SSH_HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

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
export function checkSanRoots(roots: Record<TargetName, string>, cache: string, configDir: string): void {
  const where: { name: TargetName; key: string; path: string }[] = [];
  for (const name of TARGET_NAMES) {
    const v = roots[name];
    const field = `san.${name}`;
    if (v.startsWith('ssh://')) {
      const m = SSH_URL.exec(v)!;
      const why = pathProblem(m[4]);
      if (why) throw errors.sanRootUnsafe(field, v, why);
      where.push({ name, key: `${m[2]}:${m[3] ?? '22'}`, path: trim(m[4]) });
      continue;
    }
    // Checked as written first: a value realpath cannot even take (a NUL) is refused, not thrown.
    const direct = pathProblem(v);
    if (direct) throw errors.sanRootUnsafe(field, v, direct);
    const real = realish(v);
    const why = real !== v ? pathProblem(real) : undefined;
    if (why) throw errors.sanRootUnsafe(field, v, `${why} (through a symlink: ${real})`);
    if (real === trim(homedir())) throw errors.sanRootUnsafe(field, v, 'is your home directory');
    const realCache = realish(cache);
    if (real === realCache) throw errors.sanRootOverlap(field, v, 'is the cache directory');
    if (inside(real, realCache))
      throw errors.sanRootOverlap(field, v, `is inside the cache ${cache} (gc would delete it)`);
    if (inside(realCache, real)) throw errors.sanRootOverlap(field, v, `holds the cache ${cache}`);
    if (inside(realish(configDir), real))
      throw errors.sanRootOverlap(
        field,
        v,
        `holds the config's directory ${configDir} (a host directory could replace your files)`,
      );
    where.push({ name, key: 'local', path: real });
  }
  for (let i = 0; i < where.length; i++)
    for (let j = 0; j < i; j++) {
      const [a, b] = [where[j], where[i]];
      if (a.key !== b.key) continue;
      const how =
        a.path === b.path
          ? 'is the same directory as'
          : inside(b.path, a.path)
            ? 'is inside'
            : inside(a.path, b.path)
              ? 'holds'
              : undefined;
      if (how)
        throw errors.sanRootOverlap(
          `san.${b.name}`,
          roots[b.name],
          `${how} san.${a.name} (${roots[a.name]}): each root needs its own directory`,
        );
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
