// A small client of the OCI distribution API (distribution-spec v1.1): blobs (HEAD, GET,
// monolithic and chunked uploads, cross-repository mounts), manifests by tag, auth by challenge.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { RegistryError, type RegistryOptions, Transport } from './http.js';

export { RegistryError, type RegistryOptions } from './http.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  data?: string;
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
  private readonly http: Transport;

  constructor(
    readonly url: string,
    private readonly o: RegistryOptions,
  ) {
    const ref = parseOciUrl(url);
    if (typeof ref === 'string') throw new RegistryError(`${url} ${ref}`);
    this.host = ref.host;
    this.repo = ref.repo;
    this.http = new Transport(url, `${o.insecure ? 'http' : 'https'}://${ref.host}`, ref.host, ref.repo, o);
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.http.call('HEAD', `/v2/${this.repo}/blobs/${digest}`, {}, [200, 404]);
    return res.status === 200;
  }

  /** The blob's bytes, refused unless they have the descriptor's size and digest. */
  async blob(d: Descriptor, sink?: (chunk: Uint8Array) => Promise<void>): Promise<Buffer | undefined> {
    const res = await this.http.call('GET', `/v2/${this.repo}/blobs/${d.digest}`, {}, [200]);
    const h = createHash('sha256');
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.http.body(res)) {
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
      const res = await this.http.call('POST', `/v2/${this.repo}/blobs/uploads/${q}`, {}, [201, 202], [from]);
      if (res.status === 201) return 'mounted';
      location = this.location(res);
      break;
    }
    location ??= this.location(await this.http.call('POST', `/v2/${this.repo}/blobs/uploads/`, {}, [202]));
    const chunk = this.o.chunkSize ?? 16 << 20;
    const put = (loc: string, body?: Buffer) => {
      const u = new URL(loc);
      u.searchParams.set('digest', d.digest);
      const headers = { 'content-type': 'application/octet-stream', 'content-length': String(body?.length ?? 0) };
      return this.http.call('PUT', u.href, { headers, body }, [201]);
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
      location = this.location(await this.http.call('PATCH', location, { headers, body }, [202]));
    }
    await put(location);
    return 'uploaded';
  }

  /** Stores an OCI image manifest under a tag; returns its digest. */
  async putManifest(tag: string, manifest: object): Promise<string> {
    const body = Buffer.from(JSON.stringify(manifest));
    const headers = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };
    await this.http.call('PUT', `/v2/${this.repo}/manifests/${tag}`, { headers, body }, [201]);
    return sha256Digest(createHash('sha256').update(body).digest('hex'));
  }

  /** The manifest a tag names, or undefined if there is none. */
  async manifest(tag: string): Promise<{ json: any; digest: string } | undefined> {
    const headers = { accept: 'application/vnd.oci.image.manifest.v1+json' };
    const res = await this.http.call('GET', `/v2/${this.repo}/manifests/${tag}`, { headers }, [200, 404]);
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    const chunks: Buffer[] = [];
    for await (const c of this.http.body(res)) chunks.push(Buffer.from(c));
    const body = Buffer.concat(chunks);
    const digest = sha256Digest(createHash('sha256').update(body).digest('hex'));
    const said = res.headers.get('docker-content-digest');
    if (said && said !== digest) throw new DigestMismatch(`manifest ${tag} arrived as ${digest}, not ${said}`);
    return { json: JSON.parse(body.toString('utf8')), digest };
  }

  private location(res: Response): string {
    const loc = res.headers.get('location');
    if (!loc) throw new RegistryError(`${res.url}: the registry sent no Location for the upload`, res.status);
    return new URL(loc, this.http.base).href;
  }
}

/** A blob or manifest whose bytes are not what their digest says. */
export class DigestMismatch extends RegistryError {}

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
