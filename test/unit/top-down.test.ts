import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RemoteLookup } from '../../cache/remote/guard.js';
import { writeKnown } from '../../cache/remote/known.js';
import { Cache } from '../../cache/store.js';
import { Engine, type StepRunner } from '../../core/engine.js';
import type { HostGraph } from '../../core/graph.js';
import type { KeyProviders } from '../../core/keys.js';
import { definePlugin, type HostInfo } from '../../core/plugin.js';
import type { StepNode } from '../../core/recipe.js';
import type { StepReport } from '../../core/reporter.js';
import { p } from '../../core/schema.js';
import { recordKeyFile } from './fake-record.js';

// The top-down rule on the engine alone: a "registry" that is another local cache, a fake step
// runner, fake key providers. Steps a -> b -> c -> d, d published: a build that runs nothing
// pulls d only; one where d must run pulls c only; if c cannot be pulled, c runs (and its inputs come first).

const step = definePlugin({
  name: 'unit-topdown',
  version: '1',
  params: { label: p.string() },
  inputs: ['in'],
  produces: { file: 'file' },
  run() {},
});

function chain(dLabel = 'd'): HostGraph {
  const san = { tftp: '/t', nfs: '/n', nbd: '/b', conf: '/c' };
  const host: HostInfo = { name: 'h', mac: '52:54:00:00:00:01', ip: '10.0.2.21', server: '10.0.2.2', san };
  const ids = ['a', 'b', 'c', 'd'];
  const order: StepNode[] = ids.map((id, i) => {
    const inputs: StepNode['inputs'] = i ? { in: { step: ids[i - 1], output: 'file' } } : {};
    return { id, plugin: step, params: { label: id === 'd' ? dLabel : id }, inputs };
  });
  const publish = [{ target: 'conf' as const, path: 'd', from: { step: 'd', output: 'file' } }];
  return { host, recipe: 'unit', order, steps: new Map(order.map((n) => [n.id, n])), publish, links: [] };
}

const runner =
  (cache: Cache, ran: string[]): StepRunner =>
  async (a) => {
    ran.push(a.node.id);
    return recordKeyFile(cache, a);
  };

/** The remote: another cache; `pulls` says what was pulled whole, `lost` keys it cannot give outputs of. */
function fakeRemote(local: Cache, registry: Cache, lost: string[] = []) {
  const pulls: string[] = [];
  const remote: RemoteLookup = {
    url: 'oci://fake/cache',
    async record(key) {
      const rec = await registry.readAction(key);
      if (rec) await writeKnown(local, rec);
      return rec;
    },
    async pull(key) {
      const rec = await registry.readAction(key);
      if (!rec || lost.includes(rec.by.step)) return undefined;
      pulls.push(rec.by.step);
      for (const a of Object.values(rec.outputs)) await local.putObject(a.digest, `${key}\n`);
      await local.writeAction(rec);
      return rec;
    },
    async push() {},
  };
  return { remote, pulls };
}

const keys: KeyProviders = {
  tools: { version: async () => 'fake 1.0', hostFile: async () => true },
  sources: { digest: async () => 'file:unused:644' },
  fingerprints: { fingerprint: async () => 'unused' },
};

let dir: string;
let registry: Cache;
const caches: Cache[] = [];
async function freshCache(): Promise<Cache> {
  const c = new Cache(join(dir, `cache-${caches.length}`));
  await c.init();
  caches.push(c);
  return c;
}
function engine(cache: Cache, runStep: StepRunner, o: { remote?: RemoteLookup; jobs?: number; plan?: boolean } = {}) {
  return new Engine({
    cache,
    keys,
    runStep,
    jobs: o.jobs ?? 4,
    mode: o.plan ? 'plan' : 'build',
    verbose: false,
    sourceDateEpoch: 1700000000,
    baseDir: dir,
    reporter: { running() {}, step() {}, replay() {}, done: async () => {} },
    signal: new AbortController().signal,
    remote: o.remote,
  });
}
const outcomes = (r: StepReport[]) => r.map((s) => `${s.step}:${s.outcome}`).join(' ');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'netboot-topdown-'));
  registry = await freshCache();
  // Builder A fills the "registry".
  await engine(registry, runner(registry, [])).run([chain()]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('builds without the bytes', () => {
  it('a build that runs nothing pulls what it delivers (d) and leaves the rest in the registry', async () => {
    const local = await freshCache();
    const { remote, pulls } = fakeRemote(local, registry);
    const ran: string[] = [];
    const reports = await engine(local, runner(local, ran), { remote }).run([chain()]);
    expect(outcomes(reports)).toBe('a:unpulled b:unpulled c:unpulled d:remote');
    expect([ran, pulls]).toEqual([[], ['d']]);
    for (const r of reports.slice(0, 3)) expect(await local.readAction(r.key!)).toBeUndefined();
    // Plan mode knows the left steps' outputs from their records: nothing would run.
    const plan = await engine(local, runner(local, ran), { plan: true }).run([chain()]);
    expect(outcomes(plan)).toBe('a:unpulled b:unpulled c:unpulled d:cached');
  });

  it('a step that must run pulls the input it reads (c), and only that one', async () => {
    const local = await freshCache();
    const { remote, pulls } = fakeRemote(local, registry);
    const ran: string[] = [];
    const reports = await engine(local, runner(local, ran), { remote }).run([chain('d2')]);
    expect(outcomes(reports)).toBe('a:unpulled b:unpulled c:remote d:ran');
    expect([ran, pulls]).toEqual([['d'], ['c']]);
  });

  it('an input the registry cannot give runs here, its own inputs first (one job: no deadlock)', async () => {
    const local = await freshCache();
    const { remote, pulls } = fakeRemote(local, registry, ['c']);
    const ran: string[] = [];
    const reports = await engine(local, runner(local, ran), { remote, jobs: 1 }).run([chain('d2')]);
    expect(outcomes(reports)).toBe('a:unpulled b:remote c:ran d:ran');
    expect([ran, pulls]).toEqual([['c', 'd'], ['b']]);
    expect(reports[2].reasons[0]).toContain('the remote cache did not give them');
  });

  it('with no remote (--no-remote), known records still give the keys; what must be read runs here', async () => {
    const local = await freshCache();
    await engine(local, runner(local, []), { remote: fakeRemote(local, registry).remote }).run([chain()]);
    const unchanged = await engine(local, runner(local, [])).run([chain()]);
    expect(outcomes(unchanged)).toBe('a:unpulled b:unpulled c:unpulled d:cached');
    const ran: string[] = [];
    const reports = await engine(local, runner(local, ran)).run([chain('d3')]);
    expect(outcomes(reports)).toBe('a:ran b:ran c:ran d:ran');
    expect(ran).toEqual(['a', 'b', 'c', 'd']);
  });
});
