// The `cache` section of a config: a directory (a plain string), or `{ dir, remote }` with a
// remote cache on an OCI registry.
import { parseOciUrl, REPO } from '../cache/remote/registry.js';
import { isPlainObject, p, parseShape, show } from '../core/schema.js';
import { pathIn } from './config-san.js';

export interface RemoteConfig {
  /** oci://host[:port]/repository */
  url: string;
  /** Push what this machine builds (default true); false only pulls. */
  push: boolean;
  /** Plain HTTP instead of HTTPS (a registry on localhost). Default false. */
  insecure: boolean;
  /** A failing registry fails the build instead of a warning and a local build. Default false. */
  required: boolean;
  /** How long one request (or a pause in a download) may take. Default 10000. */
  timeoutMs: number;
  /** Repositories on the same registry to mount blobs from before uploading them. */
  mountFrom: string[];
}

export interface CacheSection {
  dir: string;
  remote?: RemoteConfig;
}

const remoteShape = {
  url: p.custom<string>('oci:// URL', (v, path, issues) => {
    const why = typeof v === 'string' ? parseOciUrl(v) : 'is not an oci:// URL';
    if (typeof why === 'string') return void issues.errors.push(`${path}: ${show(v)} ${why}`);
    return v as string;
  }),
  push: p.boolean().default(true),
  insecure: p.boolean().default(false),
  required: p.boolean().default(false),
  timeoutMs: p.number({ integer: true, min: 100, max: 600_000 }).default(10_000),
  mountFrom: p.array(p.string({ pattern: REPO, what: 'an OCI repository name' })).default([]),
};

export function cacheSection(dir: string, defaultDir: string) {
  const path = pathIn(dir);
  return p
    .custom<CacheSection>('path | { dir, remote }', (v, at, issues) => {
      if (!isPlainObject(v)) {
        const d = path.parse(v, at, issues);
        return d === undefined ? undefined : { dir: d };
      }
      const shape = { dir: path.default(defaultDir), remote: p.optional(p.object(remoteShape)) };
      const c = parseShape(shape, v, at, issues);
      return c && { dir: c.dir, remote: c.remote as RemoteConfig | undefined };
    })
    .default({ dir: defaultDir });
}
