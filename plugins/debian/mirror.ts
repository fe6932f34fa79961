import { createHash } from 'node:crypto';
import type { FingerprintContext } from '../../core/plugin.js';

/** How a fingerprint asks for a URL's digest: the engine's conditional requests when it offers them. */
export type Asker = Pick<FingerprintContext<unknown>, 'signal' | 'urlDigest'>;

/**
 * The state of a Debian suite on a mirror: the sha256 of its InRelease file, which changes
 * whenever the archive publishes anything for the suite. Steps that download from the mirror use
 * it as their fingerprint, so a nightly build re-runs them only when Debian published something.
 */
export function inReleaseDigest(mirror: string, suite: string, ctx: Asker): Promise<string> {
  return suiteDigest(mirror, suite, ctx).then((d) => {
    if (d === null) throw new Error(`${releaseUrl(mirror, suite, 'InRelease')}: HTTP 404`);
    return d;
  });
}

/**
 * Like inReleaseDigest, for any suite a step reads: an unsigned repository (a local test archive,
 * taken with [trusted=yes]) has a Release file and no InRelease; a suite the mirror does not serve
 * at all (neither file: HTTP 404) is null, so a caller may leave an optional suite out.
 */
export async function suiteDigest(mirror: string, suite: string, ctx: Asker): Promise<string | null> {
  // The engine's asker sends the last answer's validators (a 304 is one round trip, no body) and asks
  // each URL once per run: the steps of every host on a suite ask the same question.
  const ask = ctx.urlDigest ?? ((url: string) => onceDigest(url, ctx.signal));
  const d = await ask(releaseUrl(mirror, suite, 'InRelease'));
  if (d) return `inrelease:${d}`;
  const r = await ask(releaseUrl(mirror, suite, 'Release'));
  return r && `release:${r}`;
}

const releaseUrl = (mirror: string, suite: string, file: string) =>
  `${mirror.replace(/\/+$/, '')}/dists/${suite}/${file}`;

const seen = new Map<string, Promise<string | null>>();

/** Without the engine (a plugin called on its own): one plain download per URL and process. */
function onceDigest(url: string, signal: AbortSignal): Promise<string | null> {
  let pending = seen.get(url);
  if (!pending) {
    pending = fetchDigest(url, signal);
    seen.set(url, pending);
    pending.catch(() => seen.delete(url));
  }
  return pending;
}

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
