import { resolve } from 'node:path';
import { canonicalJson, sha256 } from '../base/canonical.js';
import { errors, isNetbootError } from '../base/errors.js';
import { type AnyPlugin, type Artifact, type ToolSpec, toolSpec } from './plugin.js';
import type { StepNode } from './recipe.js';
import { isPlainObject } from './schema.js';

/**
 * The cache key, in one module: what a step's result depends on (KeyParts), how those parts are
 * gathered (keyParts, whose I/O goes through the providers below), hashed (actionKey) and
 * compared (diffParts). The cache stores the parts opaquely, in action records and host histories.
 */
export interface KeyParts {
  plugin: string;
  version: string;
  params: unknown;
  inputs: Record<string, { kind: string; digest: string; mode?: number }>;
  /** Host tool versions, and in-process library versions as `lib:<name>`. */
  tools: Record<string, string>;
  /** Digests of the local paths the plugin declares in `sources`, by path as written. */
  sources?: Record<string, string>;
  fingerprint: string | null;
  env: { sourceDateEpoch: number };
}

/** Versions of host programs, and whether host files are there (core/tools.ts on a real host). */
export interface ToolVersionProvider {
  /** The version string of a tool, or undefined when it is not installed. */
  version(spec: ToolSpec): Promise<string | undefined>;
  hostFile(path: string): Promise<boolean>;
  /** Called when a run has resolved its keys: a provider that remembers versions may write them then. */
  save?(): Promise<void>;
}

/** Digests of local sources, as an artifact of them would be named (a secret one as an HMAC). */
export interface SourceDigester {
  digest(path: string, secret: boolean): Promise<string>;
}

/** Where a step stands, for errors. */
export interface StepAt {
  host: string;
  step: string;
}

/** A plugin's upstream fingerprint for its params (core/fingerprints.ts: remembered for --offline). */
export interface FingerprintProvider {
  fingerprint(plugin: AnyPlugin, params: unknown, at: StepAt): Promise<string>;
}

export interface KeyProviders {
  tools: ToolVersionProvider;
  sources: SourceDigester;
  fingerprints: FingerprintProvider;
}

export interface KeyEnv {
  sourceDateEpoch: number;
  /** Relative source paths are relative to this: the config's directory. */
  baseDir: string;
}

/** A step's key parts, given its resolved inputs. */
export async function keyParts(
  node: StepNode,
  inputs: Record<string, Artifact>,
  at: StepAt,
  p: KeyProviders,
  env: KeyEnv,
): Promise<KeyParts> {
  const plugin = node.plugin;
  const tools: Record<string, string> = {};
  for (const t of plugin.tools ?? []) {
    const spec = toolSpec(t);
    const v = await p.tools.version(spec);
    if (v === undefined) throw errors.missingTool(spec.name, spec.package, at.host, at.step);
    tools[spec.name] = v;
  }
  for (const f of plugin.hostFiles ?? [])
    if (!(await p.tools.hostFile(f.path))) throw errors.missingTool(f.path, f.package, at.host, at.step);
  for (const [name, v] of Object.entries(plugin.libraries ?? {})) tools[`lib:${name}`] = v;
  const sources = plugin.sources ? await sourceParts(node, at, p.sources, env.baseDir) : undefined;
  const inputParts: KeyParts['inputs'] = {};
  for (const [name, a] of Object.entries(inputs))
    inputParts[name] =
      a.kind === 'file' ? { kind: 'file', digest: a.digest, mode: a.mode } : { kind: 'tree', digest: a.digest };
  return {
    plugin: plugin.name,
    version: plugin.version,
    params: node.params,
    inputs: inputParts,
    tools,
    ...(sources ? { sources } : {}),
    fingerprint: plugin.fingerprint ? await p.fingerprints.fingerprint(plugin, node.params, at) : null,
    env: { sourceDateEpoch: env.sourceDateEpoch },
  };
}

async function sourceParts(node: StepNode, at: StepAt, digester: SourceDigester, baseDir: string) {
  const sources: Record<string, string> = {};
  const params = () => structuredClone(node.params) as never;
  const secret = new Set(node.plugin.secretSources?.(params()) ?? []);
  for (const path of node.plugin.sources!(params()))
    sources[path] = await digester.digest(resolve(baseDir, path), secret.has(path)).catch((e) => {
      throw isNetbootError(e) ? errors.inStep(at.host, at.step, e) : e;
    });
  return sources;
}

/** The action key: sha256 of the canonical JSON of everything a step's result depends on. */
export function actionKey(parts: KeyParts): string {
  return sha256(canonicalJson(parts));
}

const short = (d: string | null | undefined) => (d ? d.slice(0, 12) : 'none');
const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
const union = (a: object, b: object) => [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();

function flatten(v: unknown, prefix: string, out: Map<string, unknown>): Map<string, unknown> {
  if (isPlainObject(v) && Object.keys(v).length)
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  else out.set(prefix, v);
  return out;
}

/** What changed between two keys' parts, in words, one line per difference. */
export function diffParts(before: KeyParts, after: KeyParts): string[] {
  const out: string[] = [];
  if (before.plugin !== after.plugin) out.push(`plugin ${before.plugin} -> ${after.plugin}`);
  if (before.version !== after.version) out.push(`plugin version ${before.version} -> ${after.version}`);
  const pa = flatten(before.params, '', new Map());
  const pb = flatten(after.params, '', new Map());
  for (const k of [...new Set([...pa.keys(), ...pb.keys()])].sort())
    if (canonicalJson(pa.get(k) ?? null) !== canonicalJson(pb.get(k) ?? null))
      out.push(`param ${k}: ${show(pa.get(k))} -> ${show(pb.get(k))}`);
  for (const k of union(before.inputs, after.inputs)) {
    const a = before.inputs[k];
    const b = after.inputs[k];
    if (canonicalJson(a ?? null) !== canonicalJson(b ?? null))
      out.push(`input ${k}: ${short(a?.digest)} -> ${short(b?.digest)}`);
  }
  for (const k of union(before.tools, after.tools))
    if (before.tools[k] !== after.tools[k]) out.push(`tool ${k}: ${show(before.tools[k])} -> ${show(after.tools[k])}`);
  const sa = before.sources ?? {};
  const sb = after.sources ?? {};
  for (const k of union(sa, sb))
    if (sa[k] !== sb[k]) out.push(`source ${k}: ${short(sa[k]?.split(':')[1])} -> ${short(sb[k]?.split(':')[1])}`);
  if (before.fingerprint !== after.fingerprint)
    out.push(`fingerprint: ${short(before.fingerprint)} -> ${short(after.fingerprint)}`);
  if (before.env.sourceDateEpoch !== after.env.sourceDateEpoch)
    out.push(`sourceDateEpoch: ${before.env.sourceDateEpoch} -> ${after.env.sourceDateEpoch}`);
  return out;
}
