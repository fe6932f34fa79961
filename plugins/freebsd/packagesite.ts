// A pkg(8) repository's catalog: packagesite.pkg (older repositories: packagesite.txz) is an
// archive holding packagesite.yaml, one JSON object per line per package. Read here for the lock
// phase: each package's path, version, sha256 ("sum") and dependencies.
import { execFile } from 'node:child_process';
import { errors } from '../../base/errors.js';
import type { LockEntry, UpstreamIndex } from '../../core/recipe.js';

/** The repository FreeBSD's pkg(8) uses by default for a release's ABI. */
export function defaultPkgRepo(major: number, arch: string): string {
  return `https://pkg.freebsd.org/FreeBSD:${major}:${arch}/quarterly`;
}

/** packagesite.yaml out of its archive, whatever the compression: bsdtar detects it. */
export function catalogYaml(bytes: Buffer, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'bsdtar',
      ['-xOf', '-', 'packagesite.yaml'],
      { maxBuffer: 1 << 30, encoding: 'utf8' },
      (e, stdout, stderr) => {
        if (e) {
          const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'bsdtar (libarchive-tools) is missing' : stderr;
          reject(errors.indexInvalid(url, `no packagesite.yaml in it: ${String(why).trim()}`));
        } else resolve(stdout);
      },
    );
    child.stdin?.end(bytes);
  });
}

/** Every package of a packagesite.yaml, by name. */
export function parseCatalog(yaml: string, url: string): Record<string, LockEntry> {
  const out: Record<string, LockEntry> = {};
  for (const [i, line] of yaml.split('\n').entries()) {
    if (!line.trim()) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch {
      throw errors.indexInvalid(url, `packagesite.yaml line ${i + 1} is not a JSON object`);
    }
    const path = (o.repopath ?? o.path) as unknown;
    const ok =
      typeof o.name === 'string' &&
      /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(o.name) &&
      typeof o.version === 'string' &&
      typeof path === 'string' &&
      /^(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._+,~/-]+$/.test(path) &&
      typeof o.sum === 'string' &&
      /^[0-9a-f]{64}$/.test(o.sum);
    if (!ok) throw errors.indexInvalid(url, `packagesite.yaml line ${i + 1} lacks a name, version, path or sum`);
    const deps = o.deps && typeof o.deps === 'object' ? Object.keys(o.deps).sort() : [];
    out[o.name as string] = { sha256: o.sum as string, path: path as string, version: o.version as string, deps };
  }
  return out;
}

/** `names` and everything they depend on, sorted; a name the entries lack is reported with `missing`. */
export function closure(
  names: string[],
  entries: Record<string, LockEntry>,
  missing: (name: string) => never,
): string[] {
  const seen = new Set<string>();
  const walk = (n: string) => {
    if (seen.has(n)) return;
    const e = entries[n];
    if (!e) missing(n);
    seen.add(n);
    for (const d of e.deps ?? []) walk(d);
  };
  for (const n of names) walk(n);
  return [...seen].sort();
}

/** The index the recipe pins for its packages: the repository's catalog. */
export function catalogIndex(repo: string, names: string[], where: string): UpstreamIndex {
  const base = repo.replace(/\/+$/, '');
  return {
    lock: `pkg ${base}`,
    urls: [`${base}/packagesite.pkg`, `${base}/packagesite.txz`],
    names,
    where,
    hint: `set ${where.replace(/\.packages$/, '.pkgRepo')} to a pkg repository you can reach`,
    read: async (bytes, url) => parseCatalog(await catalogYaml(bytes, url), url),
  };
}
