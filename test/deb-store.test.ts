import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CountingProxy } from '../bench/counting-proxy.js';
import { byStep, Project, type StepRow } from './helpers.js';

// The download store under mmdebstrap: the bullseye base (the step every Debian host of the
// shared cache has), then the same base with one package more. apt fetches through a counting
// proxy, so what crosses the network is counted, not what netboot says. The store is the shared
// cache's: the added package (hello) is one no other test file installs (debian-updates adds tree,
// debian-nbd less), or it could come from the store and not the network.
const cache = inject('sharedDebianCache');
const proxy = new CountingProxy();
let proxyUrl: string;
let project: Project;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

beforeAll(async () => {
  project = new Project('deb-store', { cache });
  proxyUrl = await proxy.start();
});
afterAll(async () => {
  await proxy.stop();
  project.remove();
});

describe('the download store', () => {
  it('a second bootstrap with one more package fetches that package, and a damaged stored one again', async () => {
    const first = await project.jsonAsync<{ steps: StepRow[] }>(['build', 'base'], { http_proxy: proxyUrl });
    expect(first.code, first.stderr).toBe(0);
    // A stored package the base needs, damaged on disk: it must be refused, fetched again and replaced.
    // The shared store holds other suites' base-files too (and indexes): take the version this base has.
    const baseTree = join(cache, 'trees', byStep(first.data.steps).base.outputs!.tree.digest);
    const version = installedVersion(join(baseTree, 'var/lib/dpkg/status'), 'base-files');
    const store = join(cache, 'debs');
    const stored = readdirSync(store).flatMap((d) => readdirSync(join(store, d)).map((f) => join(store, d, f)));
    const victim = stored.find((f) => debField(f, 'Package') === 'base-files' && debField(f, 'Version') === version)!;
    expect(victim, 'base-files in the store').toBeDefined();
    chmodSync(victim, 0o644);
    const bytes = readFileSync(victim);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(victim, bytes);

    const from = proxy.requests.length;
    const r = await project.jsonAsync<{ steps: StepRow[] }>(['build', 'base'], {
      BASE_INCLUDE: 'hello',
      http_proxy: proxyUrl,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(byStep(r.data.steps).base.outcome).toBe('ran');
    const fetched = proxy.debs(from).names.sort();
    expect(fetched).toEqual([expect.stringMatching(/^base-files_/), expect.stringMatching(/^hello_/)]);
    // The store holds base-files again, whole: its name is its content's sha256.
    expect(sha(victim)).toBe(victim.split('/').pop());
    const tree = join(cache, 'trees', byStep(r.data.steps).base.outputs!.tree.digest);
    expect(readFileSync(join(tree, 'var/lib/dpkg/status'), 'utf8')).toMatch(/^Package: hello$/m);
  }, 900_000);
});

function installedVersion(status: string, pkg: string): string {
  const stanza = readFileSync(status, 'utf8')
    .split('\n\n')
    .find((st) => st.startsWith(`Package: ${pkg}\n`));
  return stanza?.match(/^Version: (.+)$/m)?.[1] ?? '';
}

function debField(file: string, field: string): string {
  try {
    // The store holds indexes too: dpkg-deb's complaint about those is not news.
    return execFileSync('dpkg-deb', ['-f', file, field], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return '';
  }
}
