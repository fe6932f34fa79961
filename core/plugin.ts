import type { Shell } from 'zx';
import type { Artifact } from '../cache/artifact.js';
import type { DebStore } from '../cache/deb-store.js';
import type { Shape, ShapeIn, ShapeOut } from './schema.js';
import type { TargetName } from './targets.js';

/** What a step can produce: one regular file, or a directory tree (modes, owners, links kept). */
export type OutputKind = 'file' | 'tree';
export type Produces = Record<string, OutputKind>;

export type { Artifact, FileArtifact, TreeArtifact } from '../cache/artifact.js';

/** An input as a step sees it: a path it must treat as read-only. */
export type InputArtifact = Artifact & { path: string };

export interface ToolSpec {
  /** Program name looked up on PATH (or an absolute path). */
  name: string;
  /** Debian package that provides it, named in the missing-tool error. */
  package?: string;
  /** Arguments that make it print its version (default --version). */
  versionArgs?: string[];
}

export interface HostInfo {
  name: string;
  mac: string;
  ip: string;
  /** Address clients use to reach the SAN. */
  server: string;
  /** The SAN roots as paths on the SAN machine (for configs that name the live paths). */
  san: Record<TargetName, string>;
  /** How the host boots (the config's `boot`, defaults applied); absent: BIOS and UEFI. */
  boot?: HostBoot;
}

/** The firmware a host's TFTP directory serves (PXELINUX for bios, shim + GRUB for uefi). */
export type Firmware = 'bios' | 'uefi';
export interface HostBoot {
  firmware: Firmware[];
  /** pxelinux: PXELINUX (BIOS) and shim + GRUB (UEFI); ipxe: iPXE for both. */
  loader?: 'pxelinux' | 'ipxe';
  /** `san.http`: the base URL from which the SAN serves the TFTP root over HTTP (ends in '/'). */
  http?: string;
}

export interface StepLogger {
  info(message: string): void;
  warn(message: string): void;
}

/** One entry of a tree's manifest (owners and modes as recorded). */
export type { ManifestEntry as TreeEntry } from '../cache/tree.js';

import type { ManifestEntry as TreeEntry } from '../cache/tree.js';

export interface StepContext<P, I extends string, O extends Produces> {
  /**
   * Step id inside the host's graph. There is deliberately no `host` here: a step's output may
   * depend only on its key, so recipes pass what they need of the host (name, IP) as params.
   */
  step: string;
  params: P;
  /** Input artifacts. Read-only: change a tree through ctx.editTree (or a ctx.copyTree copy). */
  inputs: Record<I, InputArtifact>;
  /** Where to write each declared output: a file path, or an existing empty directory for trees. */
  outputs: { [K in keyof O]: string };
  /** A private scratch directory, removed after the step. */
  tmp: string;
  /** zx's $, working in `tmp`, with every command and its output written to the step's log. */
  $: Shell;
  log: StepLogger;
  signal: AbortSignal;
  /** Clamp for every timestamp the step writes (archives, images). */
  sourceDateEpoch: number;
  /** The upstream fingerprint this run was keyed on, if the plugin declares one. */
  fingerprint?: string;
  /**
   * The cache's downloads by sha256 (Debian packages by the digest their index gives), shared by
   * every step and host: a step takes what it would download from here and adds what it fetched.
   * The engine owns it; it never enters a key (a stored file is the very bytes a download gives).
   */
  downloads?: DebStore;
  /** A path from the params made absolute: relative paths are relative to the config file. */
  resolvePath(path: string): string;
  /**
   * An HMAC of `data` under the cache's own 0600 key: the same for the same data in one cache,
   * unguessable without the key. A step that writes a secret into an output mixes this into the
   * same file, so the file's content digest (in tree manifests, stat rows, release manifests) is
   * no unsalted digest of the secret.
   */
  keyedDigest(data: string): Promise<string>;
  /** The manifest of an input tree (owners and modes as recorded, sorted by path). */
  manifest(input: I): Promise<TreeEntry[]>;
  /** A private, writable copy of an input tree (reflinks where the file system can). */
  copyTree(input: I, dest: string): Promise<void>;
  /**
   * Makes tree output `output` by changing input tree `input` where `edit` sees it: at the path it
   * is given, an overlay of the stored tree, so nothing is copied first and afterwards only what
   * `edit` changed is read and stored (the rest are links to the input's files). The output's
   * directory stays empty until `edit` returns. Needs root (it mounts); unmounted when it settles.
   */
  editTree(input: I, output: keyof O & string, edit: (root: string) => Promise<void>): Promise<void>;
}

/** Fingerprints depend on params only, so hosts sharing a step share one upstream check. */
export interface FingerprintContext<P> {
  params: P;
  signal: AbortSignal;
  /**
   * The sha256 of a URL's body (null on 404), from the engine: asked once per run, with the last
   * answer's validators (If-None-Match, If-Modified-Since), so an unchanged file costs a 304.
   */
  urlDigest?(url: string): Promise<string | null>;
}

export interface PluginDefinition<S extends Shape, I extends string, O extends Produces> {
  /** Unique name; part of every key this plugin's steps get. */
  name: string;
  /** Bump when the plugin's output for the same inputs changes: it invalidates its steps. */
  version: string;
  description?: string;
  params?: S;
  inputs?: readonly I[];
  produces: O;
  /** Host programs the plugin runs; their versions enter the key. */
  tools?: readonly (string | ToolSpec)[];
  /** Files of the build machine the plugin reads (boot loaders, modules), with the Debian package that ships them. */
  hostFiles?: readonly { path: string; package: string }[];
  /**
   * Versions of in-process libraries that shape the output (zlib for gzip, an archive writer):
   * they enter the key like tool versions, so a Node upgrade that changes gzip bytes re-runs it.
   */
  libraries?: Readonly<Record<string, string>>;
  /**
   * Local paths (relative to the config file) the step reads. Their digests enter the key and
   * are taken on every build, --offline included, through a stat cache; if one changes while
   * the step runs, the step fails instead of storing a mix.
   */
  sources?(params: ShapeOut<S>): string[];
  /**
   * Those of `sources` that hold a secret (a CHAP secret file): their digests enter the key only
   * as an HMAC under the cache's own key, so no record or history holds a guessable digest.
   */
  secretSources?(params: ShapeOut<S>): string[];
  /**
   * The state of a volatile upstream (e.g. a Debian suite's InRelease digest), computed at every
   * build. When it changes, the step runs again. `--offline` reuses the last value.
   */
  fingerprint?(ctx: FingerprintContext<ShapeOut<S>>): Promise<string> | string;
  /**
   * Its outputs hold something that must not leave this machine: never pushed to (nor pulled
   * from) a remote cache, nor is anything made from them. Implied by `secretSources`.
   */
  private?: boolean;
  run(ctx: StepContext<ShapeOut<S>, I, O>): Promise<void> | void;
}

export interface Plugin<S extends Shape = Shape, I extends string = string, O extends Produces = Produces>
  extends PluginDefinition<S, I, O> {
  readonly __plugin: true;
  /** Type-level only: the parameters a step of this plugin accepts. */
  readonly _paramsIn?: ShapeIn<S>;
}

export type AnyPlugin = Plugin<any, any, any>;

/**
 * Declares a plugin. An identity helper: it returns what it is given, typed, so that
 * `ctx.params`, `ctx.inputs` and `ctx.outputs` are inferred from the declaration.
 */
export function definePlugin<S extends Shape = {}, const I extends string = never, const O extends Produces = {}>(
  def: PluginDefinition<S, I, O>,
): Plugin<S, I, O> {
  return Object.assign(def, { __plugin: true as const });
}

export function toolSpec(t: string | ToolSpec): ToolSpec {
  return typeof t === 'string' ? { name: t } : t;
}
