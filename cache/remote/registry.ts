// A small client of the OCI distribution API (distribution-spec v1.1): blobs (HEAD, GET,
// monolithic and chunked uploads, cross-repository mounts), manifests by tag, auth by challenge.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { basicHeader, type Challenge, type Credentials, credentialsFor, fetchToken, parseChallenge } from './auth.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  data?: string;
}

export interface RegistryOptions {
  /** Plain HTTP (a registry on localhost); else HTTPS with the system's CA store. */
  insecure: boolean;
  /** Each request (and each pause while a body streams) may take this long. */
  timeoutMs: number;
  /** Attempts after the first, for network errors, 5xx and 429; 250 ms, 500 ms, 1 s ... apart. */
  retries?: number;
  /** Blobs larger than this go up in PATCH chunks of this size; smaller ones in one PUT. */
  chunkSize?: number;
  /** Whether the pushes need push access (the token scope asked for). */
  push: boolean;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** Why a registry call failed: `status` when the registry answered, else a network error or a timeout. */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** An OCI repository name (distribution-spec: path components of a-z0-9 joined by . _ __ -). */
export const REPO = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;

/** `oci://host[:port]/repo/path` as host and repository; a problem as a sentence. */
export function parseOciUrl(url: string): { host: string; repo: string } | string {
  const m = /^oci:\/\/([^/\s?#]+)\/([^?#\s]+)$/.exec(url);
  if (!m) return 'is not oci://host[:port]/repository';
  if (!REPO.test(m[2])) return `names repository "${m[2]}", which is not a valid OCI repository name (a-z0-9 ._-/)`;
  return { host: m[1], repo: m[2] };
}

export const sha256Digest = (hex: string) => `sha256:${hex}`;

export class Registry {
  readonly host: string;
  readonly repo: string;
  private readonly base: string;
  private authorization?: string;
  private creds?: Credentials | null;

  constructor(
    readonly url: string,
    private readonly o: RegistryOptions,
  ) {
    const ref = parseOciUrl(url);
    if (typeof ref === 'string') throw new RegistryError(`${url} ${ref}`);
    this.host = ref.host;
    this.repo = ref.repo;
    this.base = `${o.insecure ? 'http' : 'https'}://${ref.host}`;
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.call('HEAD', `/v2/${this.repo}/blobs/${digest}`, {}, [200, 404]);
    return res.status === 200;
  }

  /** The blob's bytes, refused unless they have the descriptor's size and digest. */
  async blob(d: Descriptor, sink?: (chunk: Uint8Array) => Promise<void>): Promise<Buffer | undefined> {
    const res = await this.call('GET', `/v2/${this.repo}/blobs/${d.digest}`, {}, [200]);
    const h = createHash('sha256');
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.body(res)) {
      size += chunk.length;
      if (size > d.size) throw new RegistryError(`blob ${d.digest} is longer than its ${d.size} bytes`);
      h.update(chunk);
      if (sink) await sink(chunk);
      else parts.push(Buffer.from(chunk));
    }
    const got = sha256Digest(h.digest('hex'));
    if (got !== d.digest || size !== d.size)
      throw new DigestMismatch(`blob ${d.digest} arrived as ${got} (${size} bytes): refused, nothing was stored`);
    return sink ? undefined : Buffer.concat(parts);
  }

  /**
   * Uploads a blob unless the repository has it, or mounts it from one of `mountFrom` (the
   * registry says 201 if it could, else opens an upload). Bytes come from `read(offset, length)`.
   */
  async pushBlob(
    d: Descriptor,
    read: (offset: number, length: number) => Promise<Buffer>,
    mountFrom: string[] = [],
  ): Promise<'present' | 'mounted' | 'uploaded'> {
    if (await this.hasBlob(d.digest)) return 'present';
    let location: string | undefined;
    for (const from of mountFrom) {
      const q = `?mount=${encodeURIComponent(d.digest)}&from=${encodeURIComponent(from)}`;
      const res = await this.call('POST', `/v2/${this.repo}/blobs/uploads/${q}`, {}, [201, 202], [from]);
      if (res.status === 201) return 'mounted';
      location = this.location(res);
      break;
    }
    location ??= this.location(await this.call('POST', `/v2/${this.repo}/blobs/uploads/`, {}, [202]));
    const chunk = this.o.chunkSize ?? 16 << 20;
    const put = (loc: string, body?: Buffer) => {
      const u = new URL(loc);
      u.searchParams.set('digest', d.digest);
      const headers = { 'content-type': 'application/octet-stream', 'content-length': String(body?.length ?? 0) };
      return this.call('PUT', u.href, { headers, body }, [201]);
    };
    if (d.size <= chunk) {
      await put(location, await read(0, d.size));
      return 'uploaded';
    }
    for (let at = 0; at < d.size; at += chunk) {
      const body = await read(at, Math.min(chunk, d.size - at));
      const headers = {
        'content-type': 'application/octet-stream',
        'content-range': `${at}-${at + body.length - 1}`,
        'content-length': String(body.length),
      };
      location = this.location(await this.call('PATCH', location, { headers, body }, [202]));
    }
    await put(location);
    return 'uploaded';
  }

  /** Stores an OCI image manifest under a tag; returns its digest. */
  async putManifest(tag: string, manifest: object): Promise<string> {
    const body = Buffer.from(JSON.stringify(manifest));
    const headers = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
    await this.call('PUT', `/v2/${this.repo}/manifests/${tag}`, { headers, body }, [201]);
    return sha256Digest(createHash('sha256').update(body).digest('hex'));
  }

  /** The manifest a tag names, or undefined if there is none. */
  async manifest(tag: string): Promise<{ json: any; digest: string } | undefined> {
    const headers = { accept: 'application/vnd.oci.image.manifest.v1+json' };
    const res = await this.call('GET', `/v2/${this.repo}/manifests/${tag}`, { headers }, [200, 404]);
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    const chunks: Buffer[] = [];
    for await (const c of this.body(res)) chunks.push(Buffer.from(c));
    const body = Buffer.concat(chunks);
    const digest = sha256Digest(createHash('sha256').update(body).digest('hex'));
    const said = res.headers.get('docker-content-digest');
    if (said && said !== digest) throw new DigestMismatch(`manifest ${tag} arrived as ${digest}, not ${said}`);
    return { json: JSON.parse(body.toString('utf8')), digest };
  }

  private location(res: Response): string {
    const loc = res.headers.get('location');
    if (!loc) throw new RegistryError(`${res.url}: the registry sent no Location for the upload`, res.status);
    return new URL(loc, this.base).href;
  }

  /** A response body as chunks, each awaited chunk resetting the idle timeout of `call`. */
  private async *body(res: Response): AsyncGenerator<Uint8Array> {
    const touch = (res as Response & { touch?: () => void }).touch;
    if (!res.body) return;
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
      touch?.();
      yield c;
    }
  }

  /**
   * One request, answered with one of `expect`: with the credentials a 401 challenge asks for
   * (once), and retried with backoff on network errors, 5xx and 429.
   */
  private async call(
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: Buffer },
    expect: number[],
    mountFrom: string[] = [],
  ): Promise<Response> {
    const url = path.startsWith('http') ? path : `${this.base}${path}`;
    let authed = false;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.send(method, url, init);
      } catch (e) {
        // A registry that does not answer in time is not asked again: it would cost the timeout each time.
        const final = this.o.signal?.aborted || e instanceof Timeout || attempt >= (this.o.retries ?? 2);
        if (final) throw this.networkError(method, url, e);
        await backoff(attempt);
        continue;
      }
      if (res.status === 401 && !authed) {
        authed = true;
        await res.body?.cancel();
        await this.authenticate(parseChallenge(res.headers.get('www-authenticate')), mountFrom);
        attempt--;
        continue;
      }
      if (expect.includes(res.status)) return res;
      const text = await res.text().catch(() => '');
      if ((res.status >= 500 || res.status === 429) && attempt < (this.o.retries ?? 2)) {
        await backoff(attempt);
        continue;
      }
      const why = /"message":"([^"]*)"/.exec(text)?.[1] ?? text.slice(0, 200);
      throw new RegistryError(`${method} ${url}: ${res.status} ${res.statusText}${why ? ` (${why})` : ''}`, res.status);
    }
  }

  private async send(method: string, url: string, init: { headers?: Record<string, string>; body?: Buffer }) {
    const ac = new AbortController();
    const late = (what: string) => () =>
      ac.abort(new Timeout(`${what} ${this.o.timeoutMs} ms (cache.remote.timeoutMs)`));
    let timer = setTimeout(late('no answer within'), this.o.timeoutMs);
    const stop = () => clearTimeout(timer);
    const onAbort = () => ac.abort(this.o.signal?.reason);
    this.o.signal?.addEventListener('abort', onAbort, { once: true });
    const headers = { ...init.headers, ...(this.authorization ? { authorization: this.authorization } : {}) };
    try {
      const res = await fetch(url, { method, headers, body: init.body, signal: ac.signal });
      // The body may stream for long: the timeout then runs from the last chunk.
      Object.assign(res, {
        touch: () => {
          stop();
          timer = setTimeout(late('stalled for'), this.o.timeoutMs);
        },
      });
      res.headers.get('content-length') === '0' || method === 'HEAD' ? stop() : timer.unref();
      return res;
    } catch (e) {
      stop();
      throw ac.signal.aborted && ac.signal.reason instanceof Error ? ac.signal.reason : e;
    } finally {
      this.o.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async authenticate(ch: Challenge | undefined, mountFrom: string[]): Promise<void> {
    if (this.creds === undefined) this.creds = (await credentialsFor(this.host, this.o.env)) ?? null;
    const creds = this.creds ?? undefined;
    if (!ch) throw new RegistryError(`${this.url}: 401 without a WWW-Authenticate challenge`, 401);
    if (ch.scheme === 'basic') {
      if (!creds) throw new RegistryError(`${this.url}: the registry wants a login and none is configured`, 401);
      this.authorization = basicHeader(creds);
      return;
    }
    const actions = this.o.push ? 'pull,push' : 'pull';
    const scopes = [`repository:${this.repo}:${actions}`, ...mountFrom.map((r) => `repository:${r}:pull`)];
    const signal = AbortSignal.timeout(this.o.timeoutMs);
    try {
      this.authorization = `Bearer ${await fetchToken(ch, scopes, creds, signal)}`;
    } catch (e) {
      throw new RegistryError(`${this.url}: cannot get a token: ${(e as Error).message}`, 401);
    }
  }

  private networkError(method: string, url: string, e: unknown): Error {
    if (this.o.signal?.aborted) return e as Error;
    if (e instanceof Timeout) return new RegistryError(`${method} ${url}: ${e.message}`);
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return new RegistryError(`${method} ${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
}

class Timeout extends Error {}

/** A blob or manifest whose bytes are not what their digest says. */
export class DigestMismatch extends RegistryError {}

const backoff = (attempt: number) => new Promise((r) => setTimeout(r, 250 * 2 ** attempt));

/** A file's bytes for `pushBlob`, read at the offsets asked for. */
export function fileReader(path: string) {
  return async (offset: number, length: number): Promise<Buffer> => {
    const fd = await open(path, 'r');
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fd.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new RegistryError(`${path}: shorter than expected`);
      return buf;
    } finally {
      await fd.close();
    }
  };
}
