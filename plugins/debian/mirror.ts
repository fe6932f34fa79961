import { createHash } from 'node:crypto';

/**
 * The state of a Debian suite on a mirror: the sha256 of its InRelease file, which changes
 * whenever the archive publishes anything for the suite. Steps that download from the mirror use
 * it as their fingerprint, so a nightly build re-runs them only when Debian published something.
 */
export function inReleaseDigest(mirror: string, suite: string, signal: AbortSignal): Promise<string> {
  return suiteDigest(mirror, suite, signal).then((d) => {
    if (d === null) throw new Error(`${releaseUrl(mirror, suite, 'InRelease')}: HTTP 404`);
    return d;
  });
}

/**
 * Like inReleaseDigest, for any suite a step reads: an unsigned repository (a local test archive,
 * taken with [trusted=yes]) has a Release file and no InRelease; a suite the mirror does not serve
 * at all (neither file: HTTP 404) is null, so a caller may leave an optional suite out.
 */
export function suiteDigest(mirror: string, suite: string, signal: AbortSignal): Promise<string | null> {
  const url = releaseUrl(mirror, suite, 'InRelease');
  // The steps of every host on a suite ask the same question: one download per run answers them
  // all (a run is one command, so the answer cannot go stale within it).
  let pending = seen.get(url);
  if (!pending) {
    pending = fetchDigest(url, signal).then(
      (d) => d ?? fetchDigest(releaseUrl(mirror, suite, 'Release'), signal).then((r) => r && `release:${r}`),
    );
    seen.set(url, pending);
    pending.catch(() => seen.delete(url));
  }
  return pending.then((d) => (d && !d.startsWith('release:') ? `inrelease:${d}` : d));
}

const releaseUrl = (mirror: string, suite: string, file: string) =>
  `${mirror.replace(/\/+$/, '')}/dists/${suite}/${file}`;

const seen = new Map<string, Promise<string | null>>();

async function fetchDigest(url: string, signal: AbortSignal): Promise<string | null> {
  const timeout = AbortSignal.timeout(30_000);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any ? AbortSignal.any([signal, timeout]) : timeout });
  } catch (e) {
    throw new Error(
      `cannot fetch ${url}: ` +
        `${(e as Error).cause ? String((e as Error & { cause: Error }).cause.message) : (e as Error).message}`,
    );
  }
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return createHash('sha256')
    .update(Buffer.from(await res.arrayBuffer()))
    .digest('hex');
}
