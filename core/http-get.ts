import { createHash } from 'node:crypto';

export interface DigestAnswer {
  status: number;
  /** The sha256 of a 200's body; null for any other status. */
  digest: string | null;
  etag?: string;
  lastModified?: string;
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) || undefined;

/**
 * One GET with node:http(s), following up to 5 redirects, the body only hashed. Not fetch: its
 * first use in a process costs 40-130 ms here (undici loads), several times the round trip of a
 * no-op's one request. The modules load on first use, so a build that asks nothing never pays
 * for them. `hop` is called for each request sent.
 */
export async function getDigest(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  hop?: () => void,
  hops = 5,
): Promise<DigestAnswer> {
  const u = new URL(url);
  const { request } = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const timeout = AbortSignal.timeout(30_000);
  hop?.();
  return new Promise<DigestAnswer>((resolve, reject) => {
    const req = request(
      u,
      { headers, signal: AbortSignal.any ? AbortSignal.any([signal, timeout]) : timeout },
      (res) => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (status >= 300 && status < 400 && status !== 304 && location && hops > 0) {
          res.resume();
          getDigest(new URL(location, u).href, headers, signal, hop, hops - 1).then(resolve, reject);
          return;
        }
        const validators = { etag: header(res.headers.etag), lastModified: header(res.headers['last-modified']) };
        if (status !== 200) {
          res.resume();
          resolve({ status, digest: null, ...validators });
          return;
        }
        const h = createHash('sha256');
        res.on('data', (c: Buffer) => h.update(c));
        res.on('end', () => resolve({ status, digest: h.digest('hex'), ...validators }));
        res.on('error', (e) => reject(new Error(`cannot fetch ${url}: ${e.message}`)));
      },
    );
    req.on('error', (e) => reject(new Error(`cannot fetch ${url}: ${e.message}`)));
    req.end();
  });
}
