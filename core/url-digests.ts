import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { sha256 } from '../base/canonical.js';
import { writeFileAtomic } from '../cache/atomic.js';

/** What the last full answer for a URL said: its validators and the digest of its body. */
interface Remembered {
  url: string;
  etag?: string;
  lastModified?: string;
  digest: string;
}

/**
 * The sha256 of a URL's body, asked conditionally: the validators of the last answer go with the
 * request (If-None-Match, If-Modified-Since), so when nothing changed the server answers 304 and
 * the digest is the remembered one, for one round trip and no body. Each URL is asked once per
 * run. A server that gives no validators is asked in full each time. A 404 is null.
 */
export class UrlDigests {
  private readonly asked = new Map<string, Promise<string | null>>();
  /** Requests made and 304 answers, for the bench and tests. */
  readonly stats = { requests: 0, notModified: 0 };

  constructor(
    /** Where the validators are kept (the cache's fingerprints/); none: nothing is remembered. */
    private readonly dir: string | undefined,
    private readonly o: { record: boolean; signal: AbortSignal },
  ) {}

  digest(url: string): Promise<string | null> {
    let p = this.asked.get(url);
    if (!p) {
      p = this.fetch(url);
      this.asked.set(url, p);
      p.catch(() => this.asked.delete(url));
    }
    return p;
  }

  private async fetch(url: string): Promise<string | null> {
    const file = this.dir && join(this.dir, `url-${sha256(url)}.json`);
    const last = file ? await readRemembered(file, url) : undefined;
    const headers: Record<string, string> = {};
    if (last?.etag) headers['if-none-match'] = last.etag;
    if (last?.lastModified) headers['if-modified-since'] = last.lastModified;
    const res = await get(url, headers, this.o.signal);
    this.stats.requests++;
    if (res.status === 304 && last) {
      this.stats.notModified++;
      return last.digest;
    }
    if (res.status === 404) return null;
    if (res.digest === null) throw new Error(`${url}: HTTP ${res.status}`);
    const etag = header(res.headers.etag);
    const lastModified = header(res.headers['last-modified']);
    if (file && this.o.record && (etag || lastModified))
      await writeFileAtomic(file, JSON.stringify({ url, etag, lastModified, digest: res.digest } satisfies Remembered));
    return res.digest;
  }
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) || undefined;

async function readRemembered(file: string, url: string): Promise<Remembered | undefined> {
  try {
    const r = JSON.parse(await readFile(file, 'utf8')) as Remembered;
    // A record for another URL (or a damaged one) is no validator: the request goes unconditional.
    return r.url === url && /^[0-9a-f]{64}$/.test(r.digest) ? r : undefined;
  } catch {
    return undefined;
  }
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The sha256 of a 200's body; null for any other status. */
  digest: string | null;
}

/**
 * One GET with node:http(s), following up to 5 redirects. Not fetch: its first use in a process
 * costs 40-130 ms here (undici loads), several times the round trip of a no-op's one request.
 */
function get(url: string, headers: Record<string, string>, signal: AbortSignal, hops = 5): Promise<Answer> {
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  const timeout = AbortSignal.timeout(30_000);
  return new Promise<Answer>((resolve, reject) => {
    const req = send(u, { headers, signal: AbortSignal.any ? AbortSignal.any([signal, timeout]) : timeout }, (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && status !== 304 && location && hops > 0) {
        res.resume();
        get(new URL(location, u).href, headers, signal, hops - 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        resolve({ status, headers: res.headers, digest: null });
        return;
      }
      const h = createHash('sha256');
      res.on('data', (c: Buffer) => h.update(c));
      res.on('end', () => resolve({ status, headers: res.headers, digest: h.digest('hex') }));
      res.on('error', (e) => reject(new Error(`cannot fetch ${url}: ${e.message}`)));
    });
    req.on('error', (e) => reject(new Error(`cannot fetch ${url}: ${e.message}`)));
    req.end();
  });
}
