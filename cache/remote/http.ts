// The HTTP side of the registry client: one request with the auth a 401 challenge asks for
// (Basic, or a Bearer token from the realm), retries with backoff, and timeouts that also cover
// a body that stalls while it streams.
import { basicHeader, type Challenge, type Credentials, credentialsFor, fetchToken, parseChallenge } from './auth.js';

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

/** A request (or a body) that took longer than `timeoutMs`: not retried. */
export class Timeout extends Error {}

/** A URL for a message: an upload's query (`_state=...`, `digest=...`) says nothing to a user. */
const shown = (url: string) => url.replace(/\?.*$/, '');

const backoff = (attempt: number) => new Promise((r) => setTimeout(r, 250 * 2 ** attempt));

export class Transport {
  private authorization?: string;
  private creds?: Credentials | null;

  constructor(
    /** For messages: oci://host/repo */
    readonly url: string,
    readonly base: string,
    readonly host: string,
    readonly repo: string,
    private readonly o: RegistryOptions,
  ) {}

  /** A response body as chunks, each awaited chunk resetting the idle timeout of `call`. */
  async *body(res: Response): AsyncGenerator<Uint8Array> {
    const { touch, finish } = res as Response & { touch?: () => void; finish?: () => void };
    try {
      if (!res.body) return;
      for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
        touch?.();
        yield c;
      }
    } finally {
      finish?.();
    }
  }

  /**
   * One request, answered with one of `expect`: with the credentials a 401 challenge asks for
   * (once), and retried with backoff on network errors, 5xx and 429.
   */
  async call(
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
      throw new RegistryError(
        `${method} ${shown(url)}: ${res.status} ${res.statusText}${why ? ` (${why})` : ''}`,
        res.status,
      );
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
      // Unref'd, and stopped when the body ends: a finished download must not keep the process alive.
      Object.assign(res, {
        touch: () => {
          stop();
          timer = setTimeout(late('stalled for'), this.o.timeoutMs);
          timer.unref();
        },
        finish: stop,
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
    if (e instanceof Timeout) return new RegistryError(`${method} ${shown(url)}: ${e.message}`);
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return new RegistryError(`${method} ${shown(url)}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
}
