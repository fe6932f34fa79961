import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../base/canonical.js';
import { writeFileAtomic } from '../cache/atomic.js';
import { getDigest } from './http-get.js';

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
  /** Requests made (hops: redirects included), 304 answers and failures, for the bench, tests and no-op stamp. */
  readonly stats = { requests: 0, hops: 0, notModified: 0, failed: 0 };
  /** What each URL asked in this run answered: its digest and validators (cli/noop-stamp.ts keeps them). */
  readonly answers = new Map<string, { digest: string | null; etag?: string; lastModified?: string }>();

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
      p.catch(() => {
        this.stats.failed++;
        this.asked.delete(url);
      });
    }
    return p;
  }

  private async fetch(url: string): Promise<string | null> {
    const file = this.dir && join(this.dir, `url-${sha256(url)}.json`);
    const last = file ? await readRemembered(file, url) : undefined;
    const headers: Record<string, string> = {};
    if (last?.etag) headers['if-none-match'] = last.etag;
    if (last?.lastModified) headers['if-modified-since'] = last.lastModified;
    const res = await getDigest(url, headers, this.o.signal, () => this.stats.hops++);
    this.stats.requests++;
    if (res.status === 304 && last) {
      this.stats.notModified++;
      this.answers.set(url, { digest: last.digest, etag: last.etag, lastModified: last.lastModified });
      return last.digest;
    }
    if (res.status === 404) {
      this.answers.set(url, { digest: null });
      return null;
    }
    if (res.digest === null) throw new Error(`${url}: HTTP ${res.status}`);
    const { etag, lastModified } = res;
    this.answers.set(url, { digest: res.digest, etag, lastModified });
    const same = last?.digest === res.digest && last.etag === etag && last.lastModified === lastModified;
    if (file && this.o.record && (etag || lastModified) && !same)
      await writeFileAtomic(file, JSON.stringify({ url, etag, lastModified, digest: res.digest } satisfies Remembered));
    return res.digest;
  }
}

async function readRemembered(file: string, url: string): Promise<Remembered | undefined> {
  try {
    const r = JSON.parse(await readFile(file, 'utf8')) as Remembered;
    // A record for another URL (or a damaged one) is no validator: the request goes unconditional.
    return r.url === url && /^[0-9a-f]{64}$/.test(r.digest) ? r : undefined;
  } catch {
    return undefined;
  }
}
