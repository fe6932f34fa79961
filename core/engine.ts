import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isNetbootError } from '../base/errors.js';
import { artifactDamage, quarantineArtifact } from '../cache/artifact-check.js';
import { type HistoryStep, type HostHistory, readHistory, recordBuild } from '../cache/history.js';
import { acquire } from '../cache/lock.js';
import type { RemoteLookup } from '../cache/remote/guard.js';
import { type ActionRecord, type Cache, exists } from '../cache/store.js';
import type { ExecuteArgs } from './executor.js';
import type { HostGraph } from './graph.js';
import { actionKey, diffParts, type KeyParts, type KeyProviders, keyParts } from './keys.js';
import type { Artifact } from './plugin.js';
import type { StepNode } from './recipe.js';
import type { Outcome, Reporter, SpanRecorder, StepReport } from './reporter.js';
import { type Fetchable, once, TopDown } from './top-down.js';

export type { Outcome, StepReport };

/**
 * Runs one step whose key missed and returns its action record, written to the cache (Ninja's
 * CommandRunner): the executor on a real build, a fake in the scheduler's tests.
 */
export type StepRunner = (a: ExecuteArgs) => Promise<ActionRecord>;

// Loaded on the first miss: a no-op build never pays for the executor (or zx).
const executeStep: StepRunner = async (a) => (await import('./executor.js')).executeStep(a);

export interface EngineOptions {
  cache: Cache;
  /** Where the key's parts that need I/O come from: tool versions, local sources, fingerprints. */
  keys: KeyProviders;
  /** Default: the executor. */
  runStep?: StepRunner;
  jobs: number;
  /** build: run what missed; plan: compute keys and say what would run, running nothing. */
  mode: 'build' | 'plan';
  /** Go on with steps that do not depend on a failed one (default: start nothing new). */
  keepGoing?: boolean;
  verbose: boolean;
  /** Hits' outputs are re-hashed rather than compared by stat (`--verify`). */
  verify?: boolean;
  sourceDateEpoch: number;
  /** Relative paths in params (local sources) are relative to this: the config's directory. */
  baseDir: string;
  reporter: Reporter;
  signal: AbortSignal;
  profiler?: SpanRecorder;
  /** A remote cache: looked up on a local miss, and given what ran (unless the step is private). */
  remote?: RemoteLookup;
  /** Only pull from the remote cache (`netboot cache pull`): a step neither cache has is not run. */
  pullOnly?: boolean;
}

interface Resolved extends Fetchable {
  outputs?: Record<string, Artifact>;
  parts?: KeyParts;
  report: StepReport;
}

class Semaphore {
  private waiting: (() => void)[] = [];
  private free: number[];
  constructor(n: number) {
    this.free = Array.from({ length: Math.max(1, n) }, (_, i) => i);
  }
  async take(): Promise<number> {
    while (!this.free.length) await new Promise<void>((r) => this.waiting.push(r));
    return this.free.shift()!;
  }
  give(slot: number) {
    this.free.push(slot);
    this.waiting.shift()?.();
  }
}

export class Engine {
  private readonly sem: Semaphore;
  private readonly byKey = new Map<string, { promise: Promise<ActionRecord>; by: string }>();
  private failed = false;
  /** Keys this build pulled from the remote cache, and the pushes still under way. */
  private readonly pulled = new Set<string>();
  private readonly pushes: Promise<void>[] = [];
  private readonly topDown: TopDown;

  constructor(private readonly o: EngineOptions) {
    this.sem = new Semaphore(o.jobs);
    this.topDown = new TopDown(o);
  }

  /** Resolves every step of the given graphs (restricted to `only` when given), in parallel where the graph allows. */
  async run(graphs: HostGraph[], only?: Map<string, Set<string>>): Promise<StepReport[]> {
    const all: Promise<Resolved>[] = [];
    const histories = new Map<string, HostHistory<KeyParts>>();
    // Every upstream question at once (each is asked once per run): the round trips overlap instead
    // of following the graph. The step that needs an answer awaits it, and reports its failure.
    for (const g of graphs)
      for (const n of g.order)
        if (n.plugin.fingerprint && (!only?.get(g.host.name) || only.get(g.host.name)!.has(n.id)))
          this.o.keys.fingerprints.fingerprint(n.plugin, n.params, { host: g.host.name, step: n.id }).catch(() => {});
    for (const g of graphs) histories.set(g.host.name, await readHistory<KeyParts>(this.o.cache, g.host.name));
    const perHost = graphs.map((g) => {
      const results = new Map<string, Promise<Resolved>>();
      const hist = histories.get(g.host.name)!;
      for (const node of g.order) {
        if (only?.get(g.host.name) && !only.get(g.host.name)!.has(node.id)) continue;
        const p = this.resolve(g, node, results, hist);
        results.set(node.id, p);
        all.push(p);
      }
      return { g, results };
    });
    // Let every started step finish (or stop) before returning: the caller then releases its
    // registration against gc, which must not happen while a step is still ingesting.
    const settled = await Promise.allSettled(all);
    // What ran goes to the remote cache before the build ends (gc may not collect it meanwhile).
    const pushed = await Promise.allSettled(this.pushes);
    const rejected = [...settled, ...pushed].find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) {
      await this.o.keys.tools.save?.();
      throw rejected.reason;
    }
    const reports = settled.map((r) => (r as PromiseFulfilledResult<Resolved>).value.report);
    if (this.o.mode === 'build')
      for (const { g, results } of perHost) {
        const steps: { step: string; entry: HistoryStep<KeyParts> }[] = [];
        for (const { report: rep, parts } of await Promise.all(results.values())) {
          if (!rep.key || !rep.outputs || !parts || rep.outcome === 'failed' || rep.outcome === 'skipped') continue;
          if (rep.outcome === 'stale') continue;
          const outcome = rep.outcome === 'ran' ? 'ran' : 'cached';
          const entry = { key: rep.key, parts, outcome, reasons: rep.reasons, outputs: rep.outputs } as const;
          steps.push({ step: rep.step, entry });
        }
        await recordBuild(this.o.cache, g.host.name, histories.get(g.host.name)!, steps);
      }
    await this.o.keys.tools.save?.();
    return reports;
  }

  private async resolve(
    g: HostGraph,
    node: StepNode,
    results: Map<string, Promise<Resolved>>,
    hist: HostHistory<KeyParts>,
  ): Promise<Resolved> {
    const host = g.host;
    const report: StepReport = {
      host: host.name,
      step: node.id,
      plugin: `${node.plugin.name}@${node.plugin.version}`,
      outcome: 'skipped',
      durationMs: 0,
      reasons: [],
    };
    const inputs = await this.upstream(node, results, report);
    if (!inputs) {
      this.o.reporter.step(report);
      return { report };
    }
    const t0 = Date.now();
    let parts: KeyParts | undefined;
    let fetch: (() => Promise<void>) | undefined;
    try {
      const at = { host: host.name, step: node.id };
      parts = await keyParts(node, inputs, at, this.o.keys, this.o);
      const key = actionKey(parts);
      report.key = key;
      const prev = hist.steps[node.id];
      report.reasons = prev
        ? prev.key === key
          ? []
          : diffParts(prev.parts, parts)
        : ['first build of this step for this host'];
      let rec = await this.hit(key);
      const damage = rec && (await this.damaged(g, node, rec));
      if (damage) {
        rec = undefined;
        report.reasons = [damage];
      }
      // Missed here but in the remote cache: its outputs stay there until a step that runs reads them.
      const left = rec || this.o.pullOnly ? undefined : await this.topDown.leftRemote(g, node, key, isPrivate(g, node));
      if (rec) {
        report.outcome = 'cached';
        if (prev?.key === key) report.reasons = [];
      } else if (left) {
        rec = left.rec;
        report.outcome = 'unpulled';
        report.reasons = [left.why];
        if (this.o.mode === 'build') fetch = once(() => this.fetchLeft(g, node, inputs, parts!, report, results));
      } else if (this.o.mode === 'plan') {
        report.outcome = 'stale';
        if (prev?.key === key && !damage) report.reasons = ['its cache entry is gone (gc or verify removed it)'];
      } else {
        if (this.failed && !this.o.keepGoing) {
          report.reasons = ['not started: another step failed'];
          this.o.reporter.step(report);
          return { report };
        }
        const shared = this.byKey.get(key);
        if (this.o.pullOnly) {
          const where = `${host.name}/${node.id}`;
          const remote = this.o.remote;
          rec = remote && !isPrivate(g, node) ? (await remote.pull(key, where)) && (await this.hit(key)) : undefined;
          report.outcome = rec ? 'remote' : 'stale';
          report.reasons = [rec ? `pulled from the remote cache ${remote!.url}` : 'not in the remote cache'];
        } else if (shared) {
          rec = await shared.promise;
          report.outcome = 'cached';
          report.reasons = [`shared with ${shared.by} in this build`];
        } else {
          const promise = this.execute(g, node, inputs, parts, key, () => this.topDown.inputsHere(node, results));
          this.byKey.set(key, { promise, by: `${host.name}/${node.id}` });
          rec = await promise;
          report.outcome = this.pulled.has(key) ? 'remote' : 'ran';
          if (report.outcome === 'remote') report.reasons = [`pulled from the remote cache ${this.o.remote!.url}`];
        }
      }
      if (rec) {
        report.outputs = rec.outputs;
        if (report.outcome === 'cached' && this.o.verbose && rec.log)
          this.o.reporter.replay(report, await readFile(this.o.cache.objectPath(rec.log), 'utf8'));
      }
    } catch (e) {
      if (!isNetbootError(e)) throw e;
      this.failed = true;
      report.outcome = 'failed';
      report.error = e;
    }
    report.durationMs = Date.now() - t0;
    this.o.reporter.step(report);
    return { outputs: report.outputs, parts, report, fetch };
  }

  /** Brings the outputs of a step that stayed in the remote cache, for a step that runs and reads them. */
  private async fetchLeft(
    g: HostGraph,
    node: StepNode,
    inputs: Record<string, Artifact>,
    parts: KeyParts,
    report: StepReport,
    results: Map<string, Promise<Resolved>>,
  ): Promise<void> {
    const key = report.key!;
    let shared = this.byKey.get(key);
    if (!shared) {
      const promise = this.execute(g, node, inputs, parts, key, () => this.topDown.inputsHere(node, results));
      this.byKey.set(key, (shared = { promise, by: `${g.host.name}/${node.id}` }));
    }
    try {
      await shared.promise;
    } catch (e) {
      report.outcome = 'failed';
      if (isNetbootError(e)) report.error = e;
      throw e;
    }
    const pulled = this.pulled.has(key);
    report.outcome = pulled ? 'remote' : 'ran';
    report.reasons = [
      pulled
        ? `pulled from the remote cache ${this.o.remote!.url}: a step that runs reads its outputs`
        : 'a step that runs reads its outputs, and the remote cache did not give them',
    ];
  }

  /** The step's inputs, once every upstream step resolved; none (and why, in `report`) if one did not produce. */
  private async upstream(node: StepNode, results: Map<string, Promise<Resolved>>, report: StepReport) {
    const inputs: Record<string, Artifact> = {};
    for (const [name, ref] of Object.entries(node.inputs)) {
      const up = await results.get(ref.step)!;
      const art = up.outputs?.[ref.output];
      if (!art) {
        report.outcome = up.report.outcome === 'stale' ? 'stale' : 'skipped';
        report.reasons = [
          `input ${name} comes from ${ref.step}, ` +
            `which ${up.report.outcome === 'stale' ? 'will run first' : 'did not complete'}`,
        ];
        return undefined;
      }
      inputs[name] = art;
    }
    return inputs;
  }

  /** A record counts as a hit only if every artifact it names is present. */
  private async hit(key: string): Promise<ActionRecord | undefined> {
    const rec = await this.o.cache.readAction(key);
    if (!rec) return undefined;
    for (const a of Object.values(rec.outputs)) if (!(await this.o.cache.hasArtifact(a))) return undefined;
    if (this.o.verbose && rec.log && !(await exists(this.o.cache.objectPath(rec.log)))) return undefined;
    return rec;
  }

  /**
   * What is wrong with a hit's outputs, if anything: every object and manifest by one lstat (by
   * hash with --verify), and each tree the host publishes entry by entry, since a release shares
   * its inodes. A damaged output is quarantined when building, so the step runs again.
   */
  private async damaged(g: HostGraph, node: StepNode, rec: ActionRecord): Promise<string | undefined> {
    const depth = this.o.verify ? 'hash' : 'stat';
    for (const [name, a] of Object.entries(rec.outputs)) {
      const published = g.publish.some((i) => i.from.step === node.id && i.from.output === name);
      const why = await artifactDamage(this.o.cache, a, depth, published, this.o.mode === 'build');
      if (!why) continue;
      if (this.o.mode === 'build') await quarantineArtifact(this.o.cache, a);
      const then = this.o.mode === 'build' ? '; quarantined, running it again' : '';
      return `its cached output ${name} was damaged (${why})${then}`;
    }
    return undefined;
  }

  private async execute(
    g: HostGraph,
    node: StepNode,
    inputs: Record<string, Artifact>,
    parts: KeyParts,
    key: string,
    prepare: () => Promise<void>,
  ): Promise<ActionRecord> {
    this.o.signal.throwIfAborted();
    // Another process may be building the same key: wait for it rather than doing it twice.
    let found: ActionRecord | undefined;
    const lock = await acquire(join(this.o.cache.dir('locks'), `${key}.lock`), {
      signal: this.o.signal,
      whileWaiting: async () => !!(found = await this.hit(key)),
    });
    if (!lock) return found!;
    try {
      const again = await this.hit(key);
      if (again) return again;
      const where = `${g.host.name}/${node.id}`;
      const priv = this.o.remote && isPrivate(g, node);
      const pulled = this.o.remote && !priv && (await this.o.remote.pull(key, where)) && (await this.hit(key));
      if (pulled) {
        this.pulled.add(key);
        return pulled;
      }
      // It runs here: what it reads from steps whose outputs stayed remote comes first (no slot held meanwhile).
      await prepare();
      const slot = await this.sem.take();
      try {
        this.o.signal.throwIfAborted();
        this.o.reporter.running(g.host.name, node.id);
        const start = Date.now();
        const run = this.o.runStep ?? executeStep;
        const { cache, signal, baseDir } = this.o;
        const rec = await run({ cache, host: g.host, node, inputs, parts, key, signal, baseDir });
        this.o.profiler?.span(where, node.plugin.name, start, Date.now(), slot);
        if (this.o.remote && !priv) this.pushes.push(this.o.remote.push(rec, where));
        return rec;
      } finally {
        this.sem.give(slot);
      }
    } finally {
      await lock.release();
    }
  }
}

/**
 * A step is private (never pushed to nor pulled from a remote cache) if its plugin says so, if
 * it reads a secret source, or if any of its inputs comes from a private step.
 */
export function isPrivate(g: HostGraph, node: StepNode, seen = new Map<string, boolean>()): boolean {
  const known = seen.get(node.id);
  if (known !== undefined) return known;
  const own = !!node.plugin.private || (node.plugin.secretSources?.(structuredClone(node.params)) ?? []).length > 0;
  const result = own || Object.values(node.inputs).some((r) => isPrivate(g, g.steps.get(r.step)!, seen));
  seen.set(node.id, result);
  return result;
}
