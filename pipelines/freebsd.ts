// What the FreeBSD jail host recipes share: their params, and where each set and package comes
// from (an explicit source, or a release's MANIFEST and a pkg catalog pinned through netboot.lock).
import { errors } from '../base/errors.js';
import type { LockEntry, Pins, UpstreamIndex } from '../core/recipe.js';
import { type Infer, type InferIn, type Issues, p } from '../core/schema.js';
import { catalogIndex, defaultPkgRepo } from '../plugins/freebsd/packagesite.js';
import { releaseIndex, releaseLockName, releaseMajor, releaseMirrors } from '../plugins/freebsd/release.js';

const sha256 = p.string({ pattern: /^[0-9a-f]{64}$/, what: 'a sha256 (64 lowercase hex digits)' });
const httpUrl = p.string({ pattern: /^(https?|file):\/\/[^\s"'\\]+$/, what: 'an http://, https:// or file:// URL' });

/** A distribution set or package archive of one's own: a URL or a path, pinned by its sha256. */
export const source = p.object({
  url: p.optional(p.string()),
  path: p.optional(p.string()),
  sha256: p.optional(sha256),
});
export type Source = Infer<typeof source>;

/** The optional sets a release may carry besides base and kernel. */
export const EXTRA_SETS = ['lib32', 'src', 'ports', 'tests', 'base-dbg', 'kernel-dbg', 'lib32-dbg'] as const;

/**
 * Where the sets come from. With `release` (and `arch`), from `<mirror>/<arch>/<release>/`, each
 * verified against that release's MANIFEST and pinned in netboot.lock; `base`/`kernel` given with
 * a sha256 are sets of one's own and win over the release's.
 */
export const sets = p.section({
  release: p.optional(
    p.string({ pattern: /^\d+\.\d+-(RELEASE|BETA\d+|RC\d+)$/, what: 'a FreeBSD release such as 14.3-RELEASE' }),
  ),
  /**
   * The release directory's architecture path: FreeBSD names amd64 and i386 by their machine, the
   * others by machine and machine_arch (`releases/arm64/aarch64/14.3-RELEASE/`).
   */
  arch: p.enum(['amd64', 'i386', 'arm64/aarch64', 'riscv/riscv64', 'powerpc/powerpc64'] as const).default('amd64'),
  mirror: p.optional(httpUrl.describe('a mirror laid out as <mirror>/<arch>/<release>/MANIFEST')),
  extra: p.array(p.enum(EXTRA_SETS)).default([]),
  base: p.optional(source),
  kernel: p.optional(source),
});
export type Sets = Infer<typeof sets>;

const PKG_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/** A package: a name in the pkg repository (`'ezjail'`), or an archive of one's own (`{ url | path, sha256 }`). */
export const packageItem = p.custom<string | Source, string | InferIn<typeof source>>(
  'string | { url | path, sha256 }',
  (v: unknown, path: string, issues: Issues) => {
    if (typeof v === 'string') {
      if (PKG_NAME.test(v)) return v;
      return void issues.errors.push(`${path}: ${JSON.stringify(v)} is not a package name`);
    }
    return source.parse(v, path, issues);
  },
);

export const pkgRepo = p.optional(httpUrl.describe('a pkg repository (where packagesite.pkg is)'));

export interface Resolved {
  /** Input name -> fetch-file params, in extraction order: base, kernel, extra sets. */
  sets: [string, { url?: string; path?: string; sha256?: string }][];
  packages: [string, { url?: string; path?: string; sha256?: string }][];
}

/** The upstream indexes a host's sets and packages need pinned. */
export function freebsdUpstream(
  s: Sets,
  packages: (string | Source)[],
  repo: string | undefined,
  where: string,
  env: Readonly<Record<string, string | undefined>>,
): UpstreamIndex[] {
  const out: UpstreamIndex[] = [];
  const fromRelease = releaseSets(s).filter((n) => !ownSet(s, n));
  // NETBOOT_FREEBSD_MIRROR: where to look first time for a release without `mirror` (a local
  // mirror, an air-gapped site). The lock records where the MANIFEST came from; sets follow it.
  const mirror = s.mirror ?? (env.NETBOOT_FREEBSD_MIRROR || undefined);
  if (s.release && fromRelease.length)
    out.push(releaseIndex({ release: s.release, arch: s.arch, mirror, sets: fromRelease }, `${where}.sets`));
  const names = byName(packages);
  if (names.length) out.push(catalogIndex(repoOf(s, repo, where), names, `${where}.packages`));
  return out;
}

/** The packages named, and pkg itself when there are any: it registers them at boot (pkg-register.ts). */
function byName(packages: (string | Source)[]): string[] {
  const names = packages.filter((x): x is string => typeof x === 'string');
  return names.length ? [...new Set([...names, 'pkg'])] : [];
}

function repoOf(s: Sets, repo: string | undefined, where: string): string {
  if (repo) return repo;
  if (!s.release) throw errors.badValue(`${where}.pkgRepo`, 'packages by name need sets.release or pkgRepo');
  // pkg's ABI names the machine_arch: FreeBSD:14:aarch64.
  return defaultPkgRepo(releaseMajor(s.release), s.arch.split('/').pop()!);
}

const releaseSets = (s: Sets) => ['base.txz', 'kernel.txz', ...s.extra.map((e) => `${e}.txz`)];
const ownSet = (s: Sets, file: string) => (file === 'base.txz' ? s.base : file === 'kernel.txz' ? s.kernel : undefined);

/** fetch-file's params for every set and package, from the config and the lock. */
export function resolveSources(
  s: Sets,
  packages: (string | Source)[],
  repo: string | undefined,
  pins: Pins,
  where: string,
): Resolved {
  if (!s.release && (!s.base || !s.kernel))
    throw errors.badValue(`${where}.sets`, 'give release (and arch), or both base and kernel');
  const locked = s.release ? pins.index(releaseLockName(s.arch, s.release)) : undefined;
  const dir = s.mirror
    ? `${s.mirror.replace(/\/+$/, '')}/${s.arch}/${s.release}`
    : (locked?.url.replace(/\/MANIFEST$/, '') ?? `${releaseMirrors(s.release ?? '')[0]}/${s.arch}/${s.release}`);
  const out: Resolved = { sets: [], packages: [] };
  for (const file of s.release ? releaseSets(s) : ['base.txz', 'kernel.txz']) {
    const name = file.replace(/\.txz$/, '');
    const own = ownSet(s, file);
    out.sets.push([
      name,
      own ? explicit(own, `${where}.sets.${name}`) : { url: `${dir}/${file}`, sha256: locked?.entries[file]?.sha256 },
    ]);
  }
  const names = byName(packages);
  if (names.length) {
    const base = repoOf(s, repo, where).replace(/\/+$/, '');
    const idx = pins.index(`pkg ${base}`);
    for (const n of closureOrNames(names, idx?.entries ?? {}))
      out.packages.push([`pkg-${n.replace(/[^A-Za-z0-9_-]/g, '_')}`, pkgSource(base, n, idx?.entries[n])]);
  }
  packages.forEach((x, i) => {
    if (typeof x !== 'string') out.packages.push([`pkg${i}`, explicit(x, `${where}.packages[${i}]`)]);
  });
  return out;
}

/** Dependencies first is not needed (packages do not overwrite each other); sorted for stable keys. */
function closureOrNames(names: string[], entries: Record<string, LockEntry>): string[] {
  const seen = new Set<string>();
  const walk = (n: string) => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const d of entries[n]?.deps ?? []) walk(d);
  };
  for (const n of names) walk(n);
  return [...seen].sort();
}

/** An unlocked package (offline, or a plan before the first build) stays unpinned: its fetch says so. */
function pkgSource(base: string, name: string, e: LockEntry | undefined) {
  return e?.path ? { url: `${base}/${e.path}`, sha256: e.sha256 } : { url: `${base}/All/${name}.pkg` };
}

/** A source of one's own: exactly one of url and path. An unpinned one fails its fetch step. */
function explicit(s: Source, where: string) {
  if ((s.url === undefined) === (s.path === undefined))
    throw errors.badValue(where, 'give exactly one of url and path');
  return { ...(s.url !== undefined ? { url: s.url } : { path: s.path }), sha256: s.sha256 };
}
