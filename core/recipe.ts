import { errors, isNetbootError } from '../base/errors.js';
import type { AnyPlugin, HostInfo, Plugin, Produces } from './plugin.js';
import { parseShape, type Shape, type ShapeIn, type ShapeOut } from './schema.js';
import type { TargetName } from './targets.js';

/** A reference to one output of one step. Built by `StepRef.out` or `RecipeBuilder.ref`. */
export interface ArtifactRef {
  readonly step: string;
  readonly output: string;
}

export interface StepRef<O extends Produces = Produces> {
  readonly id: string;
  out<K extends keyof O & string>(name: K): ArtifactRef;
}

type ParamsOf<P> = P extends Plugin<infer S, any, any> ? ShapeIn<S> : never;
type InputsOf<P> = P extends Plugin<any, infer I, any> ? I : never;
type OutputsOf<P> = P extends Plugin<any, any, infer O> ? O : never;

export type StepOptions<P extends AnyPlugin> = {
  inputs?: { [K in InputsOf<P>]: ArtifactRef };
} & ({} extends ParamsOf<P> ? { params?: ParamsOf<P> } : { params: ParamsOf<P> });

export interface StepNode {
  id: string;
  plugin: AnyPlugin;
  /** Parameters after validation, defaults applied: exactly what enters the key. */
  params: Record<string, unknown>;
  inputs: Record<string, ArtifactRef>;
}

/**
 * Runs after the step it is registered for is declared. Whatever it returns replaces that step's
 * outputs for every later step of the recipe: return a step of your own plugin (its outputs
 * replace the ones with the same name) or nothing (your step only adds to the graph).
 */
export type StepHook = (step: StepRef<any>, r: RecipeBuilder, host: HostInfo) => StepRef<any> | void;

export interface RecipeHooks {
  after?: Record<string, StepHook>;
}

export class RecipeBuilder {
  readonly steps = new Map<string, StepNode>();
  private readonly replaced = new Map<string, StepRef<any>>();
  constructor(
    readonly host: HostInfo,
    private readonly hooks: RecipeHooks = {},
  ) {}

  /** Adds a step running `plugin`. Parameters are checked against the plugin's declaration. */
  step<P extends AnyPlugin>(
    id: string,
    plugin: P,
    ...[opts]: {} extends StepOptions<P> ? [StepOptions<P>?] : [StepOptions<P>]
  ): StepRef<OutputsOf<P>> {
    if (this.steps.has(id)) throw errors.duplicateStep(this.host.name, id);
    const issues = { errors: [] as string[], warnings: [] as string[] };
    const params = parseShape(
      plugin.params ?? {},
      (opts as { params?: unknown })?.params ?? {},
      `step ${id} params`,
      issues,
    );
    if (issues.errors.length)
      throw errors.badValue(`host ${this.host.name}, ${issues.errors[0]}`, `plugin ${plugin.name} rejects it`);
    const inputs: Record<string, ArtifactRef> = {};
    for (const [name, ref] of Object.entries((opts?.inputs ?? {}) as Record<string, ArtifactRef>))
      inputs[name] = this.resolve(ref);
    this.steps.set(id, { id, plugin, params: params as Record<string, unknown>, inputs });
    const ref = stepRef<OutputsOf<P>>(id);
    const hook = this.hooks.after?.[id];
    if (!hook) return ref;
    let replacement: StepRef<any> | void;
    try {
      replacement = hook(ref, this, this.host);
    } catch (e) {
      if (isNetbootError(e)) throw e;
      throw errors.badHook(
        `host ${this.host.name}, hook after step ${id}`,
        `it threw: ${(e as Error)?.message ?? String(e)}`,
      );
    }
    if (replacement) this.replaced.set(id, replacement);
    return ref;
  }

  /** A reference by name, for steps declared later (or not at all: that is reported before anything runs). */
  ref(step: string, output: string): ArtifactRef {
    return { step, output };
  }

  /** Follows hook replacements, so a recipe's later steps consume what a user's hook put after a step. */
  private resolve(ref: ArtifactRef): ArtifactRef {
    const seen = new Set<string>();
    let cur = ref;
    for (;;) {
      const rep = this.replaced.get(cur.step);
      if (!rep || seen.has(cur.step)) return cur;
      seen.add(cur.step);
      const node = this.steps.get(rep.id);
      if (!node || !(cur.output in node.plugin.produces)) return cur;
      cur = rep.out(cur.output);
    }
  }

  /** The final ref for an output, after hooks: what a recipe hands to publishing. */
  final(ref: ArtifactRef): ArtifactRef {
    return this.resolve(ref);
  }
}

function stepRef<O extends Produces>(id: string): StepRef<O> {
  return { id, out: (name) => ({ step: id, output: name }) };
}

export type { TargetName };

/**
 * One artifact in a host's release: it lands at `path` inside the host's directory of `target`
 * (`<root>/<host>/<path>`; '.' lays a tree out as that directory itself).
 */
export interface PublishItem {
  target: TargetName;
  path: string;
  from: ArtifactRef;
  /**
   * The host writes to it (an NBD image, a read-write NFS root): it gets its own copy, never
   * shares an inode with the cache or another release, and is never rewritten in place.
   */
  writable?: boolean;
}

/**
 * A stable symlink at a fixed place of a target root that leads into the host's live directory,
 * e.g. `pxelinux.cfg/01-<mac>` -> `<host>/pxelinux.cfg/01-<mac>`. It never changes between
 * releases; what it reaches switches with the host.
 */
export interface PublishLink {
  target: TargetName;
  /** Path of the link, relative to the target root. */
  path: string;
  /** Path inside the host's directory it points to. */
  to: string;
}

export interface RecipeResult {
  publish?: PublishItem[];
  links?: PublishLink[];
}

/** One entry of an upstream index as netboot.lock keeps it: a digest netboot trusted on first fetch. */
export interface LockEntry {
  sha256: string;
  /** Where the entry is, relative to the index's URL (a package's `All/ezjail-3.4.2.pkg`). */
  path?: string;
  version?: string;
  /** Names of other entries of the same index this one needs (a package's dependencies). */
  deps?: string[];
}

/**
 * An upstream index whose digests a recipe trusts once and then pins through netboot.lock: a
 * FreeBSD release's MANIFEST, a pkg repository's catalog. The CLI fetches it only when the lock
 * lacks an entry the recipe needs (`names` and, through `deps`, what they need).
 */
export interface UpstreamIndex {
  /** The index's name in the lock, e.g. `freebsd amd64 14.3-RELEASE`. */
  lock: string;
  /** Where it may be fetched, tried in order (the first that exists is recorded in the lock). */
  urls: string[];
  names: string[];
  /** Where in the config the names come from, for messages. */
  where: string;
  /** What to do when no URL answers (e.g. which setting names another mirror). */
  hint?: string;
  /** The entries of the fetched index (all of them, or at least `names` and their dependencies). */
  read(bytes: Buffer, url: string): Promise<Record<string, LockEntry>> | Record<string, LockEntry>;
}

/** What the lock holds for a recipe's indexes: `index(lock)` gives the URL it came from and its entries. */
export interface Pins {
  index(lock: string): { url: string; entries: Record<string, LockEntry> } | undefined;
}

export const NO_PINS: Pins = { index: () => undefined };

export interface RecipeDefinition<S extends Shape, N extends string = string> {
  name: N;
  description?: string;
  params?: S;
  /** Upstream indexes this host's build pins through netboot.lock. */
  upstream?(params: ShapeOut<S>, host: HostInfo, env: Readonly<Record<string, string | undefined>>): UpstreamIndex[];
  /** Declares the steps. Returns what gets published where. `pins`: what netboot.lock says of `upstream`. */
  build(r: RecipeBuilder, params: ShapeOut<S>, host: HostInfo, pins: Pins): RecipeResult | void;
}

export interface Recipe<S extends Shape = Shape, N extends string = string> extends RecipeDefinition<S, N> {
  readonly __recipe: true;
  readonly _paramsIn?: ShapeIn<S>;
}

/** Declares a recipe: an identity helper that types `params` from its declaration. */
export function defineRecipe<S extends Shape = {}, const N extends string = string>(
  def: RecipeDefinition<S, N>,
): Recipe<S, N> {
  return Object.assign(def, { __recipe: true as const });
}
