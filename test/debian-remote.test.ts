import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TestRegistry } from '../bench/registry.js';
import { byStep, Project, type StepRow } from './helpers.js';

// The default Debian host through a real registry: builder A (the run's shared Debian cache)
// pushes what it built; builder B, with an empty cache of its own, builds the same config and
// runs no step whose key is A's. Top-down: B pulls what it delivers (the published image, TFTP
// tree and package list); the root trees below them (base, packages, upgrade, customize) and the
// kernel step stay in the registry, since no step that B runs reads them. Its image is A's, byte
// for byte.
const DELIVERED = ['image', 'tftp', 'package-manifest'];
const registry = new TestRegistry();
let a: Project;
let b: Project;
const sh = (cmd: string) => execFileSync('bash', ['-c', cmd], { encoding: 'utf8' });
const objectOf = (cache: string, digest: string) => join(cache, 'objects', digest.slice(0, 2), digest);

beforeAll(async () => {
  await registry.start();
  a = new Project('debian-nbd', { cache: inject('sharedDebianCache') });
  b = new Project('debian-nbd');
});
afterAll(async () => {
  await registry.remove();
  a?.remove();
  b?.remove();
}, 300_000);

describe('the default Debian host shared through an OCI registry', () => {
  it('builder B pulls what it delivers and nothing below it, and its image is bit-identical', async () => {
    const env = { NETBOOT_TEST_REMOTE: registry.url() };
    // Built by the Debian test file in the same run (or waited for on the cache's lock).
    const built = await a.jsonAsync<{ steps: StepRow[] }>(['build', 'bullseye-nbd']);
    expect(built.code, built.stderr).toBe(0);
    const pushed = await a.jsonAsync<{ steps: { step: string; pushed: boolean }[] }>(
      ['cache', 'push', 'bullseye-nbd'],
      env,
    );
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.data.steps.filter((s) => !s.pushed)).toEqual([]);

    const pulled = await b.jsonAsync<{ steps: StepRow[] }>(['build', 'bullseye-nbd'], env);
    const failed = pulled.data.steps?.filter((s) => s.error);
    expect(pulled.code, `${pulled.stderr}${JSON.stringify(failed)}`).toBe(0);
    // A step with A's key is never run. Only server-configs has a key of its own in B: its
    // configs name B's SAN paths, which are absolute and differ between the two projects.
    const theirs = byStep(built.data.steps);
    const outcome = (s: StepRow) => (s.key === theirs[s.step].key ? s.outcome : `${s.outcome} (own key)`);
    const expected = (step: string) =>
      step === 'server-configs' ? 'ran (own key)' : DELIVERED.includes(step) ? 'remote' : 'unpulled';
    expect(Object.fromEntries(pulled.data.steps.map((s) => [s.step, outcome(s)]))).toEqual(
      Object.fromEntries(built.data.steps.map((s) => [s.step, expected(s.step)])),
    );
    expect(built.data.steps.map((s) => s.step)).toEqual(expect.arrayContaining(['base', 'packages', 'customize']));
    const mine = byStep(pulled.data.steps);
    for (const s of built.data.steps)
      if (s.step !== 'server-configs') expect(mine[s.step].outputs, s.step).toEqual(s.outputs);
    // What stayed in the registry is not in B's cache: no action record, no tree, no file.
    const cacheB = b.path('.netboot/cache');
    for (const s of pulled.data.steps.filter((x) => x.outcome === 'unpulled')) {
      expect(existsSync(join(cacheB, 'actions', s.key!.slice(0, 2), `${s.key}.json`)), s.step).toBe(false);
      for (const o of Object.values(s.outputs!))
        expect(existsSync(o.kind === 'tree' ? join(cacheB, 'trees', o.digest) : objectOf(cacheB, o.digest))).toBe(
          false,
        );
    }
    expect(b.run(['cache', 'verify']).code).toBe(0);

    // Bit-identical by an independent reader, not only by netboot's own digest check.
    const digest = byStep(built.data.steps).image.outputs!.image.digest;
    const imgA = objectOf(inject('sharedDebianCache'), digest);
    const imgB = objectOf(b.path('.netboot/cache'), digest);
    expect(sh(`cmp ${imgA} ${imgB} && echo same`)).toBe('same\n');
    expect(sh(`e2fsck -fn ${imgB} >/dev/null 2>&1; echo rc=$?`)).toBe('rc=0\n');
    expect(sh(`debugfs -R 'cat /etc/hostname' ${imgB} 2>/dev/null`)).toBe('bullseye-nbd\n');
  }, 1_800_000);
});
