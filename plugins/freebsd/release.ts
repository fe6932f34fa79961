// FreeBSD releases: where a release's distribution sets are, and what its MANIFEST says of them.
// Pure functions, used by the recipe (URLs, the index it pins) and by the lock phase (parsing).
import { errors } from '../../base/errors.js';
import type { LockEntry, UpstreamIndex } from '../../core/recipe.js';

/** download.freebsd.org keeps the supported releases; the archive keeps every release. */
export const SUPPORTED_MIRROR = 'https://download.freebsd.org/releases';
export const ARCHIVE_MIRROR = 'https://ftp-archive.freebsd.org/pub/FreeBSD-Archive/old-releases';

/**
 * The releases taken to be supported when this table was written (2026-12-01; from memory of
 * the security team's supported-releases list: no FreeBSD site is reachable from where netboot
 * is developed, so it could not be checked there). A release named here is looked for on download.freebsd.org
 * first; any other, on the archive first. Either way the other place is tried when the first has
 * no MANIFEST (a release that reached its end of life since), and the lock records where the
 * MANIFEST was found, so a build never depends on the clock or on this table going stale.
 */
export const SUPPORTED_RELEASES: readonly string[] = ['14.3-RELEASE', '14.4-RELEASE', '15.0-RELEASE'];

/** Where `<mirror>/<arch>/<release>/MANIFEST` is looked for, in order. */
export function releaseMirrors(release: string, mirror?: string): string[] {
  if (mirror) return [mirror.replace(/\/+$/, '')];
  return SUPPORTED_RELEASES.includes(release) ? [SUPPORTED_MIRROR, ARCHIVE_MIRROR] : [ARCHIVE_MIRROR, SUPPORTED_MIRROR];
}

/** The release's major version (10 for 10.4-RELEASE, 14 for 14.3-RELEASE). */
export function releaseMajor(release: string): number {
  return Number.parseInt(release, 10);
}

/** The lock's name for a release's MANIFEST: the same whichever mirror served it. */
export const releaseLockName = (arch: string, release: string) => `freebsd ${arch} ${release}`;

/**
 * A release MANIFEST (release/scripts/make-manifest.sh): one line per set, tab-separated:
 * file name, sha256, number of files, set name, quoted description, installed by default (on/off).
 */
export function parseManifest(text: string, url: string): Record<string, LockEntry> {
  const out: Record<string, LockEntry> = {};
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const f = line.split('\t');
    if (f.length < 6 || !/^[A-Za-z0-9._-]+\.txz$/.test(f[0]) || !/^[0-9a-f]{64}$/.test(f[1]))
      throw errors.indexInvalid(
        url,
        `line ${i + 1} is not "name<TAB>sha256<TAB>files<TAB>set<TAB>description<TAB>on|off"`,
      );
    if (out[f[0]]) throw errors.indexInvalid(url, `line ${i + 1}: ${f[0]} is listed twice`);
    out[f[0]] = { sha256: f[1] };
  }
  if (!Object.keys(out).length) throw errors.indexInvalid(url, 'it lists no distribution set');
  return out;
}

/** The index the recipe pins for a release: its MANIFEST, and the sets this host needs from it. */
export function releaseIndex(
  o: { release: string; arch: string; mirror?: string; sets: string[] },
  where: string,
): UpstreamIndex {
  return {
    lock: releaseLockName(o.arch, o.release),
    urls: releaseMirrors(o.release, o.mirror).map((m) => `${m}/${o.arch}/${o.release}/MANIFEST`),
    names: o.sets,
    where,
    hint: `set ${where}.mirror (or NETBOOT_FREEBSD_MIRROR) to a mirror you can reach`,
    read: (bytes, url) => parseManifest(bytes.toString('utf8'), url),
  };
}
