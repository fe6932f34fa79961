import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { errors } from '../../base/errors.js';
import { Cache } from '../../cache/store.js';
import { Engine, type EngineOptions, type StepRunner } from '../../core/engine.js';
import type { HostGraph } from '../../core/graph.js';
import type { KeyProviders } from '../../core/keys.js';
import { type AnyPlugin, definePlugin, type HostInfo } from '../../core/plugin.js';
import type { StepNode } from '../../core/recipe.js';
import type { StepReport } from '../../core/reporter.js';
import { p } from '../../core/schema.js';
import { recordKeyFile } from './fake-record.js';

// The engine's graph walk and scheduler on a real temp-dir cache, with a fake step runner (Ninja's
// FakeCommandRunner) and fake key providers: no executor, no host tools, no root.

const leaf = definePlugin({
  name: 'unit-leaf',
  version: '1',
  params: { label: p.string() },
  produces: { file: 'file' },
  tools: ['sleep'],
  run() {},
});
const joins = definePlugin({
  name: 'unit-join',
  version: '1',
  params: { label: p.string() },
  inputs: ['a', 'b'],
  produces: { file: 'file' },
  run() {},
});
const after = definePlugin({
  name: 'unit-after',
  version: '1',
  params: { label: p.string() },
  inputs: ['a'],
  produces: { file: 'file' },
  run() {},
});

type Spec = { id: string; plugin: AnyPlugin; inputs?: Record<string, string>; label?: string };

function graph(host: string, specs: Spec[]): HostGraph {
  const san = { tftp: '/t', nfs: '/n', nbd: '/b', conf: '/c' };
  const info: HostInfo = { name: host, mac: '52:54:00:00:00:01', ip: '10.0.2.21', server: '10.0.2.2', san };
  const order: StepNode[] = specs.map((s) => ({
    id: s.id,
    plugin: s.plugin,
    params: { label: s.label ?? s.id },
    inputs: Object.fromEntries(Object.entries(s.inputs ?? {}).map(([k, step]) => [k, { step, output: 'file' }])),
  }));
  return { host: info, recipe: 'unit', order, steps: new Map(order.map((n) => [n.id, n])), publish: [], links: [] };
}

interface Fake {
  runner: StepRunner;
  events: string[];
  runs: () => string[];
  maxRunning: () => number;
}

/** Runs a step by storing one file object and its action record, after `ms`; `fail` names steps that fail. */
function fakeRunner(cache: Cache, o: { ms?: Record<string, number>; fail?: string[] } = {}): Fake {
  const events: string[] = [];
  let running = 0;
  let max = 0;
  const runner: StepRunner = async (a) => {
    const name = `${a.host.name}/${a.node.id}`;
    events.push(`start ${name}`);
    max = Math.max(max, ++running);
    try {
      await new Promise((r) => setTimeout(r, o.ms?.[a.node.id] ?? 5));
      if (o.fail?.includes(a.node.id)) throw errors.badOption(`${a.node.id} failed`);
      return await recordKeyFile(cache, a);
    } finally {
      running--;
      events.push(`end ${name}`);
    }
  };
  const runs = () => events.filter((e) => e.startsWith('start ')).map((e) => e.slice(6));
  return { runner, events, runs, maxRunning: () => max };
}

const toolCalls: string[] = [];
const keys: KeyProviders = {
  tools: {
    version: async (spec) => {
      toolCalls.push(spec.name);
      return 'fake 1.0';
    },
    hostFile: async () => true,
  },
  sources: { digest: async () => 'file:unused:644' },
  fingerprints: { fingerprint: async () => 'unused' },
};

// One cache for the file (making its shard directories is most of a test's time); each test has
// its own sourceDateEpoch, so no test's keys can hit another's entries.
let dir: string;
let cache: Cache;
let epoch = 1700000000;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'netboot-unit-'));
  cache = new Cache(join(dir, 'cache'));
  await cache.init();
});
beforeEach(() => {
  epoch++;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function engine(runStep: StepRunner, o: Partial<EngineOptions> = {}): Engine {
  return new Engine({
    cache,
    keys,
    runStep,
    jobs: 4,
    mode: 'build',
    verbose: false,
    sourceDateEpoch: epoch,
    baseDir: dir,
    reporter: { running() {}, step() {}, replay() {}, done: async () => {} },
    signal: new AbortController().signal,
    ...o,
  });
}
const outcome = (reports: StepReport[]) => Object.fromEntries(reports.map((r) => [`${r.host}/${r.step}`, r.outcome]));

const diamond = (host = 'alpha') =>
  graph(host, [
    { id: 'a', plugin: leaf },
    { id: 'b', plugin: leaf },
    { id: 'c', plugin: joins, inputs: { a: 'a', b: 'b' } },
    { id: 'd', plugin: after, inputs: { a: 'c' } },
  ]);

describe('the scheduler', () => {
  it('runs a step only after every step it reads from has ended', async () => {
    const fake = fakeRunner(cache, { ms: { a: 30, b: 10 } });
    const reports = await engine(fake.runner).run([diamond()]);
    expect(Object.values(outcome(reports))).toEqual(['ran', 'ran', 'ran', 'ran']);
    const at = (e: string) => fake.events.indexOf(e);
    expect(at('start alpha/c')).toBeGreaterThan(at('end alpha/a'));
    expect(at('start alpha/c')).toBeGreaterThan(at('end alpha/b'));
    expect(at('start alpha/d')).toBeGreaterThan(at('end alpha/c'));
    expect(toolCalls).toContain('sleep');
  });

  for (const jobs of [1, 2, 4])
    it(`runs independent steps in parallel, at most jobs=${jobs} at a time`, async () => {
      const specs = ['p', 'q', 'r', 's', 't', 'u'].map((id) => ({ id, plugin: leaf }));
      const fake = fakeRunner(cache, { ms: Object.fromEntries(specs.map((s) => [s.id, 25])) });
      await engine(fake.runner, { jobs }).run([graph('alpha', specs)]);
      expect(fake.runs()).toHaveLength(6);
      expect(fake.maxRunning()).toBe(jobs);
    });

  it('after a failure starts no new step; its dependents and steps ready later are not started', async () => {
    const g = graph('alpha', [
      { id: 'bad', plugin: leaf },
      { id: 'slow', plugin: leaf },
      { id: 'child', plugin: after, inputs: { a: 'bad' } },
      { id: 'late', plugin: after, inputs: { a: 'slow' } },
    ]);
    const fake = fakeRunner(cache, { ms: { bad: 1, slow: 40 }, fail: ['bad'] });
    const reports = await engine(fake.runner).run([g]);
    const want = { 'alpha/bad': 'failed', 'alpha/slow': 'ran', 'alpha/child': 'skipped', 'alpha/late': 'skipped' };
    expect(outcome(reports)).toEqual(want);
    expect(reports.find((r) => r.step === 'late')!.reasons).toEqual(['not started: another step failed']);
    // Both were ready at once and start concurrently, so their order is not part of the contract.
    expect(fake.runs().sort()).toEqual(['alpha/bad', 'alpha/slow']);
  });

  it('with keepGoing, steps that do not depend on the failed one still run', async () => {
    const g = graph('alpha', [
      { id: 'bad', plugin: leaf },
      { id: 'slow', plugin: leaf },
      { id: 'child', plugin: after, inputs: { a: 'bad' } },
      { id: 'late', plugin: after, inputs: { a: 'slow' } },
    ]);
    const fake = fakeRunner(cache, { ms: { bad: 1, slow: 40 }, fail: ['bad'] });
    const reports = await engine(fake.runner, { keepGoing: true }).run([g]);
    const want = { 'alpha/bad': 'failed', 'alpha/slow': 'ran', 'alpha/child': 'skipped', 'alpha/late': 'ran' };
    expect(outcome(reports)).toEqual(want);
  });

  it('a hit never runs the step, and yields the outputs the run stored', async () => {
    const first = await engine(fakeRunner(cache).runner).run([diamond()]);
    const fake = fakeRunner(cache);
    const second = await engine(fake.runner).run([diamond()]);
    expect(fake.runs()).toEqual([]);
    expect(Object.values(outcome(second))).toEqual(['cached', 'cached', 'cached', 'cached']);
    expect(second.map((r) => [r.key, r.outputs])).toEqual(first.map((r) => [r.key, r.outputs]));
  });

  it('a step with the same key in two hosts runs once in a build', async () => {
    const fake = fakeRunner(cache, { ms: { a: 20 } });
    const reports = await engine(fake.runner).run([diamond('alpha'), diamond('beta')]);
    expect(
      fake
        .runs()
        .map((r) => r.split('/')[1])
        .sort(),
    ).toEqual(['a', 'b', 'c', 'd']);
    const shared = reports.filter((r) => r.reasons.some((x) => x.startsWith('shared with ')));
    expect(shared).toHaveLength(4);
    expect(new Set(reports.map((r) => r.key)).size).toBe(4);
  });

  it('plan mode runs nothing and says which steps would run', async () => {
    const fake = fakeRunner(cache);
    const reports = await engine(fake.runner, { mode: 'plan' }).run([diamond()]);
    expect(fake.runs()).toEqual([]);
    expect(Object.values(outcome(reports))).toEqual(['stale', 'stale', 'stale', 'stale']);
  });
});
