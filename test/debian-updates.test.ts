import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AptRepo } from '../bench/apt-repo.js';
import { CountingProxy } from '../bench/counting-proxy.js';
import { byStep, Project, ROOT, ran, type StepRow } from './helpers.js';

// A security update, made deterministic: the canary-nbd host (the default host's recipe and
// suite, on the shared Debian cache) reads bullseye-security from a local archive that this test
// serves and changes. The base and packages steps are those of bullseye-nbd.
let deb: Project;
let repo: AptRepo;
let url: string;
// apt in the chroot fetches through it (http_proxy): what it counts is what a build downloaded.
const proxy = new CountingProxy();
let proxyUrl: string;
const cache = inject('sharedDebianCache');
const sh = (cmd: string) => execFileSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 26 });
const env = () => ({ CANARY_SECURITY_MIRROR: url });
const canaryIn = (s: StepRow) =>
  sh(
    `dpkg-query --admindir=${join(cache, 'trees', s.outputs!.tree.digest, 'var/lib/dpkg')} ` +
      `-W -f='\${Version}' netboot-canary`,
  );

beforeAll(async () => {
  deb = new Project('debian-nbd', { cache });
  repo = new AptRepo(ROOT, deb.path('security'), 'bullseye-security');
  repo.publishCanary('1');
  url = await repo.serve();
  proxyUrl = await proxy.start();
});
afterAll(async () => {
  await repo.stop();
  await proxy.stop();
  deb.remove();
}, 300_000);

describe('a security update', () => {
  let first: Record<string, StepRow>;

  it('a build reads the main suite, -updates and -security, and writes all three into the image', async () => {
    const r = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'canary-nbd'], env());
    expect(r.code, r.stderr).toBe(0);
    first = byStep(r.data.steps);
    expect(canaryIn(first.customize)).toBe('1');
    const sources = sh(`debugfs -R 'cat /etc/apt/sources.list' ${imageOf(first)} 2>/dev/null`);
    expect(sources).toBe(
      'deb http://deb.debian.org/debian bullseye main\n' +
        'deb http://deb.debian.org/debian bullseye-updates main\n' +
        `deb [trusted=yes] ${url} bullseye-security main\n`,
    );
  }, 1_200_000);

  it('after version 2 is published, only the upgrade step and what follows re-run, and the image holds 2', async () => {
    repo.publishCanary('2');
    const from = proxy.requests.length;
    const r = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'canary-nbd'], { ...env(), http_proxy: proxyUrl });
    expect(r.code, r.stderr).toBe(0);
    const steps = byStep(r.data.steps);
    // Downloads are fetched once: the upgrade takes what it fetched last time from the cache's
    // store, and the only package that crosses the network is the new canary.
    expect(proxy.debs(from).names).toEqual(['netboot-canary_2_all.deb']);
    // apt's indexes too: each step links in the store's last lists, so an index is fetched once,
    // by the first step whose suite changed (here the security archive's, for the upgrade), and
    // the main suite's (unchanged since the first build) not at all.
    const indexes = indexesFetched(from);
    expect(indexes.filter((u, i) => indexes.indexOf(u) !== i)).toEqual([]);
    expect(indexes.some((u) => u.startsWith(url))).toBe(true);
    expect(indexes.filter((u) => u.includes('/dists/bullseye/main/'))).toEqual([]);
    for (const s of ['base', 'packages', 'server-configs']) expect(steps[s].outcome, s).toBe('cached');
    expect(ran(r.data.steps)).toEqual(expect.arrayContaining(['upgrade', 'extra-packages', 'customize', 'image']));
    expect(ran(r.data.steps).every((s) => AFTER_UPGRADE.includes(s))).toBe(true);
    expect(steps.upgrade.reasons.join('\n')).toMatch(/^fingerprint: /m);
    expect(canaryIn(steps.customize)).toBe('2');
    expect(sh(`debugfs -R 'cat /usr/share/netboot-canary/version' ${imageOf(steps)} 2>/dev/null`)).toBe('2\n');
    const pkgs = deb.json<{ format: string; packages: { name: string; version: string; source: string }[] }>([
      'packages',
      'canary-nbd',
    ]);
    expect(pkgs.data.format).toBe('netboot.debian-packages/1');
    expect(pkgs.data.packages.find((x) => x.name === 'netboot-canary')).toMatchObject({ version: '2' });
    expect(pkgs.data.packages.find((x) => x.name === 'libc6')).toMatchObject({ source: 'glibc' });
  }, 1_200_000);

  it('adding one package downloads only that package: the others come from the download store', async () => {
    // tree: a package no other test file installs into the shared cache (its store would have it).
    const from = proxy.requests.length;
    const r = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'canary-nbd'], {
      ...env(),
      CANARY_PACKAGES: 'netboot-canary,tree',
      http_proxy: proxyUrl,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(ran(r.data.steps)).toContain('extra-packages');
    const fetched = proxy.debs(from);
    expect(fetched.names).toEqual([expect.stringMatching(/^tree_[^_]+_amd64\.deb$/)]);
    expect(fetched.bytes).toBeLessThan(200_000);
    // The local archive did not change: apt answered "Hit" from the stored lists, no index fetched.
    expect(indexesFetched(from).filter((u) => u.startsWith(url))).toEqual([]);
    // The store changes no output: the canary in the image is the one the index names.
    expect(canaryIn(byStep(r.data.steps).customize)).toBe('2');
  }, 1_200_000);

  it('--offline reuses the last fingerprints: with the archive gone, nothing runs', async () => {
    await repo.stop();
    const r = deb.json<{ steps: StepRow[] }>(['build', 'canary-nbd', '--offline'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(ran(r.data.steps)).toEqual([]);
    // The same URL again: it is a param of the upgrade step.
    url = await repo.serve(Number(new URL(url).port));
  });

  it("bad input: an unreachable security mirror names its URL; a package the suite lacks: apt's line", async () => {
    const down = await deb.runAsync(['build', 'canary-nbd'], {
      CANARY_SECURITY_MIRROR: 'http://127.0.0.1:9/debian-security',
    });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(
      'error [FINGERPRINT_FAILED]: host canary-nbd, step upgrade: cannot compute the upstream fingerprint: ' +
        'cannot fetch http://127.0.0.1:9/debian-security/dists/bullseye-security/InRelease',
    );
    const missing = await deb.jsonAsync<{ steps: StepRow[] }>(['build', 'canary-nbd'], {
      ...env(),
      CANARY_PACKAGES: 'netboot-canary,netboot-no-such-package',
    });
    expect(missing.code).toBe(1);
    const failed = byStep(missing.data.steps)['extra-packages'];
    expect(failed.error?.code).toBe('STEP_FAILED');
    expect(failed.error?.message).toMatch(/failed: apt: E: Unable to locate package netboot-no-such-package$/);
  }, 600_000);
});

/** The index files (Packages, Translation, Sources; by-hash too) apt fetched through the proxy since `from`. */
const indexesFetched = (from: number) =>
  proxy.requests
    .slice(from)
    .filter((r) => r.status === 200 && /\/(Packages|Translation-[^/]*|Sources)(\.\w+)?$|\/by-hash\//.test(r.url))
    .map((r) => r.url);
const AFTER_UPGRADE = ['upgrade', 'extra-packages', 'package-manifest', 'customize', 'kernel', 'image', 'tftp'];
const imageOf = (s: Record<string, StepRow>) =>
  join(cache, 'objects', s.image.outputs!.image.digest.slice(0, 2), s.image.outputs!.image.digest);
