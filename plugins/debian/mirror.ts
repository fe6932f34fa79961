import { createHash } from 'node:crypto';

/**
 * The state of a Debian suite on a mirror: the sha256 of its InRelease file, which changes
 * whenever the archive publishes anything for the suite. Steps that download from the mirror use
 * it as their fingerprint, so a nightly build re-runs them only when Debian published something.
 */
export function inReleaseDigest(mirror: string, suite: string, signal: AbortSignal): Promise<string> {
  const url = `${mirror.replace(/\/+$/, '')}/dists/${suite}/InRelease`;
  // The base and packages steps of every host on a suite ask the same question: one download per
  // run answers them all (a run is one command, so the answer cannot go stale within it).
  let pending = seen.get(url);
  if (!pending) {
    pending = fetchDigest(url, signal);
    seen.set(url, pending);
    pending.catch(() => seen.delete(url));
  }
  return pending;
}

const seen = new Map<string, Promise<string>>();

async function fetchDigest(url: string, signal: AbortSignal): Promise<string> {
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
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return `inrelease:${createHash('sha256')
    .update(Buffer.from(await res.arrayBuffer()))
    .digest('hex')}`;
}
