import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AptRepo } from '../../bench/apt-repo.js';
import { UrlDigests } from '../../core/url-digests.js';

// A suite's InRelease on a local static server that gives validators (ETag, Last-Modified) and
// answers 304 to a request that sends them back, as deb.debian.org's mirrors do.
const dir = mkdtempSync(join(tmpdir(), 'netboot-urls-'));
const repo = new AptRepo(process.cwd(), join(dir, 'archive'), 'bullseye');
const remembered = join(dir, 'fingerprints');
const inRelease = join(dir, 'archive/dists/bullseye/InRelease');
let url: string;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const run = (record = true) => new UrlDigests(remembered, { record, signal: new AbortController().signal });
const put = (text: string, mtime: number) => {
  writeFileSync(inRelease, text);
  utimesSync(inRelease, mtime, mtime);
};

beforeAll(async () => {
  mkdirSync(join(dir, 'archive/dists/bullseye'), { recursive: true });
  mkdirSync(remembered);
  put('Suite: bullseye\n', 1_700_000_000);
  url = `${await repo.serve()}dists/bullseye/InRelease`;
});
afterAll(async () => {
  await repo.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('conditional requests for an upstream file', () => {
  it('the first run downloads it; the next sends its validators, gets a 304, and knows the same digest', async () => {
    const first = run();
    expect(await first.digest(url)).toBe(sha('Suite: bullseye\n'));
    // Asked again in the same run: no second request.
    expect(await first.digest(url)).toBe(sha('Suite: bullseye\n'));
    expect(first.stats).toEqual({ requests: 1, hops: 1, notModified: 0, failed: 0 });
    const next = run();
    expect(await next.digest(url)).toBe(sha('Suite: bullseye\n'));
    expect(next.stats).toEqual({ requests: 1, hops: 1, notModified: 1, failed: 0 });
    expect(repo.requests.map((r) => r.status)).toEqual([200, 304]);
  });

  it('a changed file is a 200 with the new digest, whatever was remembered', async () => {
    put('Suite: bullseye\nDate: later\n', 1_700_000_100);
    const r = run();
    expect(await r.digest(url)).toBe(sha('Suite: bullseye\nDate: later\n'));
    expect(r.stats.notModified).toBe(0);
  });

  it('a damaged record of validators is ignored: the request goes unconditional', async () => {
    const [name] = readdirSync(remembered).filter((f) => f.startsWith('url-'));
    writeFileSync(join(remembered, name), '{"url": 5');
    const r = run();
    expect(await r.digest(url)).toBe(sha('Suite: bullseye\nDate: later\n'));
    expect(r.stats).toEqual({ requests: 1, hops: 1, notModified: 0, failed: 0 });
  });

  it('a plan (record off) remembers nothing new; a missing file is null', async () => {
    rmSync(remembered, { recursive: true });
    mkdirSync(remembered);
    await run(false).digest(url);
    expect(readdirSync(remembered)).toEqual([]);
    expect(await run().digest(url.replace('InRelease', 'Release'))).toBeNull();
  });
});
