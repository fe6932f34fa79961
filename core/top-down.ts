// Builds without the bytes (Bazel's term), top-down from what the build delivers. A step that
// missed locally but whose record the remote cache has is resolved from that record alone: its
// output digests give the keys below it, and its outputs stay in the registry. They are pulled
// only if the build delivers them (published, or read by no other step) or a step that must run
// here reads them; if the registry cannot give them then, the step runs here after all. A local
// action record is still only ever written with every output it names (cache/store.ts).
import type { RemoteLookup } from '../cache/remote/guard.js';
import { readKnown } from '../cache/remote/known.js';
import type { ActionRecord, Cache } from '../cache/store.js';
import type { HostGraph } from './graph.js';
import type { StepNode } from './recipe.js';

/** A resolved step, as the steps that read it see it: `fetch` brings outputs it left remote. */
export interface Fetchable {
  fetch?: () => Promise<void>;
}

export class TopDown {
  private readonly delivered = new WeakMap<HostGraph, Set<string>>();
  constructor(private readonly o: { cache: Cache; remote?: RemoteLookup; mode: 'build' | 'plan' }) {}

  /** Whether the build itself delivers the step's outputs: it publishes them, or no other step reads them. */
  delivers(g: HostGraph, node: StepNode): boolean {
    let set = this.delivered.get(g);
    if (!set) {
      const read = new Set(g.order.flatMap((n) => Object.values(n.inputs).map((r) => r.step)));
      set = new Set([...g.publish.map((i) => i.from.step), ...g.order.filter((n) => !read.has(n.id)).map((n) => n.id)]);
      this.delivered.set(g, set);
    }
    return set.has(node.id);
  }

  /**
   * The record of a step that missed locally, if its outputs may stay in the remote cache: known
   * from an earlier lookup, or looked up now (when building). None for a private step, nor, when
   * building, for one the build delivers (that one is pulled or run).
   */
  async leftRemote(g: HostGraph, node: StepNode, key: string, priv: boolean) {
    if (priv) return undefined;
    const delivered = this.delivers(g, node);
    const build = this.o.mode === 'build';
    if (build && delivered) return undefined;
    const known = await readKnown(this.o.cache, key);
    const rec: ActionRecord | undefined =
      known ?? (build ? await this.o.remote?.record(key, `${g.host.name}/${node.id}`) : undefined);
    if (!rec) return undefined;
    const why = !build
      ? delivered
        ? 'in the remote cache: a build pulls its outputs'
        : 'in the remote cache: a build leaves its outputs there unless a step that runs reads them'
      : `in the remote cache${this.o.remote ? ` ${this.o.remote.url}` : ''}: ` +
        'its outputs stay there unless a step that runs reads them';
    return { rec, why };
  }

  /** Before a step runs: each step it reads from and whose outputs stayed remote brings them (pulled, or run). */
  async inputsHere(node: StepNode, results: Map<string, Promise<Fetchable>>): Promise<void> {
    const ups = new Set(Object.values(node.inputs).map((r) => r.step));
    await Promise.all([...ups].map(async (s) => (await results.get(s)!).fetch?.()));
  }
}

/** `fn` run once, on the first call; later calls share its promise. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
