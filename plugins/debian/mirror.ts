import { createHash } from 'node:crypto';

/**
 * The state of a Debian suite on a mirror: the sha256 of its InRelease file, which changes
 * whenever the archive publishes anything for the suite. Steps that download from the mirror use
 * it as their fingerprint, so a nightly build re-runs them only when Debian published something.
 */
export async function inReleaseDigest(mirror: string, suite: string, signal: AbortSignal): Promise<string> {
  const url = `${mirror.replace(/\/+$/, '')}/dists/${suite}/InRelease`;
  const timeout = AbortSignal.timeout(30_000);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any ? AbortSignal.any([signal, timeout]) : timeout });
  } catch (e) {
    throw new Error(`cannot fetch ${url}: ${(e as Error).cause ? String((e as Error & { cause: Error }).cause.message) : (e as Error).message}`);
  }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return `inrelease:${createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')}`;
}
