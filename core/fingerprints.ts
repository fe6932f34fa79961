import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson, sha256 } from '../base/canonical.js';
import { errors } from '../base/errors.js';
import { writeFileAtomic } from '../cache/atomic.js';
import type { FingerprintProvider, StepAt } from './keys.js';
import type { AnyPlugin } from './plugin.js';
import { UrlDigests } from './url-digests.js';

export interface FingerprintOptions {
  /** The cache's fingerprints/ directory: the last value of each, for --offline. */
  dir: string;
  /** Relative params mean different things in two projects sharing a cache. */
  baseDir: string;
  offline: boolean;
  /** Remember each value asked for (a build); plan mode asks but writes nothing. */
  record: boolean;
  signal: AbortSignal;
}

/** Plugins' fingerprints, asked once per (plugin, params) in a run, the last value kept on disk. */
export class StoredFingerprints implements FingerprintProvider {
  private readonly asked = new Map<string, Promise<string>>();
  /** Conditional requests for the plugins' upstream files, their validators kept beside the values. */
  readonly urls: UrlDigests;
  constructor(private readonly o: FingerprintOptions) {
    this.urls = new UrlDigests(o.dir, { record: o.record, signal: o.signal });
  }

  fingerprint(plugin: AnyPlugin, params: unknown, at: StepAt): Promise<string> {
    const id = sha256(canonicalJson({ plugin: plugin.name, params, base: this.o.baseDir }));
    let p = this.asked.get(id);
    if (!p) this.asked.set(id, (p = this.lookup(plugin, params, at, join(this.o.dir, `${id}.json`))));
    return p;
  }

  private async lookup(plugin: AnyPlugin, params: unknown, at: StepAt, file: string): Promise<string> {
    const last = await readFile(file, 'utf8').then(
      (t) => JSON.parse(t).value as string,
      () => undefined,
    );
    if (this.o.offline) {
      if (last === undefined) throw errors.noOfflineFingerprint(at.host, at.step);
      return last;
    }
    let value: string;
    try {
      value = String(
        await plugin.fingerprint!({
          params: structuredClone(params) as never,
          signal: this.o.signal,
          urlDigest: (url) => this.urls.digest(url),
        }),
      );
    } catch (e) {
      throw errors.fingerprintFailed(at.host, at.step, (e as Error).message, e);
    }
    // Unchanged, the file stays as it is: an --offline build's no-op stamp names it.
    if (this.o.record && value !== last)
      await writeFileAtomic(file, JSON.stringify({ value, at: new Date().toISOString() }));
    return value;
  }
}
