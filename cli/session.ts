import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { errors, isNetbootError } from '../base/errors.js';
import { makeCacheRootPrivate } from '../cache/private-root.js';
import { GuardedRemote } from '../cache/remote/guard.js';
import { RemoteCache } from '../cache/remote/remote-cache.js';
import { cacheSources } from '../cache/source-digest.js';
import { Cache } from '../cache/store.js';
import { Engine, type EngineOptions } from '../core/engine.js';
import { StoredFingerprints } from '../core/fingerprints.js';
import { buildHostGraph, type HostGraph } from '../core/graph.js';
import type { AnyPlugin } from '../core/plugin.js';
import { ToolVersions } from '../core/tools.js';
import { builtinRecipes } from '../pipelines/index.js';
import { findConfig, importConfig } from './config-load.js';
import { type ResolvedConfig, validateConfig } from './config-validate.js';
import { LOCK_FILE, type LockFile, lockPins, readLock, writeLock } from './lock.js';
import { type PinOptions, updateLock } from './pins.js';
import type { Profiler } from './profile.js';

export interface GlobalOptions {
  config?: string;
  cwd: string;
  profiler?: Profiler;
  warn: (msg: string) => void;
}

/** How a command wants the engine to run; the session supplies the rest. */
export type EngineRequest = Omit<EngineOptions, 'cache' | 'keys' | 'sourceDateEpoch' | 'baseDir' | 'remote'> & {
  offline: boolean;
  /** Leave the configured remote cache alone for this run (`--no-remote`). */
  noRemote?: boolean;
  /** A remote failure fails the step, whatever the config says (`netboot cache pull`). */
  remoteRequired?: boolean;
};

/** What every command starts from: the validated config, its cache, and the host graphs. */
export class Session {
  private constructor(
    readonly config: ResolvedConfig,
    readonly cache: Cache,
    /** netboot.lock as read at open, brought up to date by `pin`. */
    private readonly lock: LockFile,
  ) {}

  get lockFile(): string {
    return join(this.config.dir, LOCK_FILE);
  }

  static async open(o: GlobalOptions): Promise<Session> {
    const time = <T>(name: string, fn: () => Promise<T>) => (o.profiler ? o.profiler.time(name, 'setup', fn) : fn());
    const file = await time('find config', () => findConfig(o.cwd, o.config));
    const raw = await time('load config', () => importConfig(file));
    const config = validateConfig(raw, file, builtinRecipes);
    for (const w of config.warnings) o.warn(`${file}: ${w}`);
    const lock = await readLock(join(config.dir, LOCK_FILE));
    const session = new Session(config, new Cache(config.cache, o.warn), lock);
    // Every host's steps are declared (and checked) before the cache is touched: a config error writes nothing.
    for (const name of session.hostNames()) session.graph(name);
    try {
      await session.cache.init();
      await makeCacheRootPrivate(session.cache.root);
    } catch (e) {
      throw errors.cacheUnusable(file, config.cache, (e as Error).message);
    }
    return session;
  }

  hostNames(): string[] {
    return [...this.config.hosts.keys()];
  }

  /** The named hosts, or all with `all`; unknown names are a usage error. */
  select(names: string[], all: boolean): string[] {
    if (all) return this.hostNames();
    if (!names.length) throw errors.noHostsSelected();
    for (const n of names) if (!this.config.hosts.has(n)) throw errors.unknownHost(n, this.hostNames());
    return [...new Set(names)];
  }

  private readonly pluginsByName = new Map<string, AnyPlugin>();
  private fingerprints?: StoredFingerprints;

  /** The upstream URLs the last engine's fingerprints asked, and what they answered. */
  get urls() {
    return this.fingerprints?.urls;
  }

  /**
   * Pins the upstream indexes of these hosts (their recipes' `upstream`) through netboot.lock:
   * what the lock lacks is fetched once and added, unless `frozen`. Only the hosts being built:
   * a Debian build never asks a FreeBSD mirror anything.
   */
  async pin(hosts: string[], o: PinOptions & { keepGoing?: boolean }): Promise<void> {
    const of = (name: string) => {
      const h = this.config.hosts.get(name)!;
      return h.recipe.upstream?.(h.params as never, h.info, process.env) ?? [];
    };
    let changed = false;
    if (!o.keepGoing) changed = await updateLock(this.lockFile, this.lock, hosts.flatMap(of), o);
    // --keep-going: a host whose index cannot be had stays unpinned (its fetch steps fail); the rest build.
    else
      for (const name of hosts)
        try {
          changed = (await updateLock(this.lockFile, this.lock, of(name), o)) || changed;
        } catch (e) {
          if (!isNetbootError(e) || o.frozen) throw e;
          o.warn?.(`host ${name}: [${e.code}] ${e.message}`);
        }
    if (changed) await writeLock(this.lockFile, this.lock);
  }

  graph(host: string): HostGraph {
    const h = this.config.hosts.get(host);
    if (!h) throw errors.unknownHost(host, this.hostNames());
    const g = buildHostGraph(h.info, h.recipe, h.params, this.config.extend[h.recipe.name], lockPins(this.lock));
    // A stable link at a root's top (pxelinux.cfg/...) must not land in, or be, another host's directory.
    for (const l of g.links) {
      const top = l.path.split('/')[0];
      if (this.config.hosts.has(top))
        throw errors.hostNameReserved(
          `hosts.${top}`,
          `"${top}" is where recipe ${h.recipe.name} of host ${host} puts its link ${l.target}:${l.path}`,
        );
    }
    // Keys name plugins by name and version: two different plugins under one name would share cache entries.
    for (const n of g.order) {
      const seen = this.pluginsByName.get(n.plugin.name);
      if (seen && seen !== n.plugin) throw errors.duplicatePlugin(n.plugin.name);
      this.pluginsByName.set(n.plugin.name, n.plugin);
    }
    return g;
  }

  /**
   * An engine on this session's cache, tool versions and config: commands say only how it runs.
   * In plan mode its key providers record nothing: no tools.json, fingerprints or stat rows.
   */
  async engine(o: EngineRequest): Promise<Engine> {
    const { offline, noRemote, remoteRequired, ...rest } = o;
    const record = o.mode === 'build';
    const dir = this.config.dir;
    const keys = {
      tools: await ToolVersions.open(join(this.cache.root, 'tools.json'), { record }),
      sources: cacheSources(this.cache, { record }),
      fingerprints: new StoredFingerprints({
        dir: this.cache.dir('fingerprints'),
        baseDir: dir,
        offline,
        record,
        signal: o.signal,
      }),
    };
    this.fingerprints = keys.fingerprints;
    const remote = record && !noRemote ? this.remote(o.signal, remoteRequired || undefined) : undefined;
    const { sourceDateEpoch } = this.config;
    return new Engine({ ...rest, cache: this.cache, keys, sourceDateEpoch, baseDir: dir, remote });
  }

  /** The configured remote cache, behind the failure policy (a warning and a local build, or `required`). */
  remote(signal: AbortSignal, required = this.config.remote?.required): GuardedRemote | undefined {
    const r = this.config.remote;
    if (!r) return undefined;
    const client = new RemoteCache(this.cache, { ...r, signal, env: process.env });
    return new GuardedRemote(client, { required: !!required, push: r.push, warn: this.cache.warn, signal });
  }

  static defaultJobs(): number {
    return availableParallelism();
  }
}
