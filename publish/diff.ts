import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../base/errors.js';
import type { Cache } from '../cache/store.js';
import type { ManifestEntry } from '../cache/tree.js';
import type { HostGraph } from '../core/graph.js';
import type { Artifact } from '../core/plugin.js';
import type { TargetName } from '../core/recipe.js';
import {
  type ManifestPackage,
  PACKAGE_MANIFEST_FORMAT,
  type PackageManifest,
} from '../plugins/debian/package-manifest.js';
import { planItem, SWITCH_ORDER } from './publisher.js';
import type { ReleaseManifest } from './release.js';
import { type Target, wentLive } from './target.js';

/** One side of a diff: what each target holds (or would hold), and the package manifest if the host has one. */
export interface DiffSide {
  /** A release id, or "build" for the newest build (not necessarily published). */
  label: string;
  targets: Partial<Record<TargetName, ManifestEntry[]>>;
  packages?: ManifestPackage[];
}

export interface Count {
  count: number;
  bytes: number;
}

export interface TargetDiff {
  target: TargetName;
  added: Count;
  removed: Count;
  changed: Count;
  paths: { added: string[]; removed: string[]; changed: string[] };
}

export interface PackageDiff {
  upgraded: { name: string; from: string; to: string }[];
  added: { name: string; version: string }[];
  removed: { name: string; version: string }[];
}

export interface HostDiff {
  host: string;
  from: string;
  to: string;
  files: TargetDiff[];
  /** Absent when neither side has a package manifest (a host whose recipe makes none). */
  packages?: PackageDiff;
}

/** The manifest file a Debian host publishes on its conf target (pipelines/debian.ts). */
const PACKAGES_PATH = 'packages.json';
/** A FreeBSD root's pkg manifests, one per package archive it unpacked (plugins/freebsd/pkg-register.ts). */
const PKG_MANIFEST = /(^|\/)var\/db\/netboot\/pkg\/[^/]+\.manifest$/;

/** Files, links and devices: a directory's coming and going is what its entries say already. */
const counted = (e: ManifestEntry) => e.type !== 'dir';
/** A release strips write bits from files it shares with the cache: modes compare without them. */
const same = (a: ManifestEntry, b: ManifestEntry) =>
  a.type === b.type &&
  a.digest === b.digest &&
  a.target === b.target &&
  a.uid === b.uid &&
  a.gid === b.gid &&
  (a.mode & 0o7555) === (b.mode & 0o7555);

export function diffEntries(target: TargetName, from: ManifestEntry[], to: ManifestEntry[]): TargetDiff {
  const d: TargetDiff = {
    target,
    added: { count: 0, bytes: 0 },
    removed: { count: 0, bytes: 0 },
    changed: { count: 0, bytes: 0 },
    paths: { added: [], removed: [], changed: [] },
  };
  const before = new Map(from.filter(counted).map((e) => [e.path, e]));
  const after = new Map(to.filter(counted).map((e) => [e.path, e]));
  const bump = (k: 'added' | 'removed' | 'changed', e: ManifestEntry) => {
    d[k].count++;
    d[k].bytes += e.size ?? 0;
    d.paths[k].push(e.path);
  };
  for (const [p, e] of after) {
    const old = before.get(p);
    if (!old) bump('added', e);
    else if (!same(old, e)) bump('changed', e);
  }
  for (const [p, e] of before) if (!after.has(p)) bump('removed', e);
  for (const k of ['added', 'removed', 'changed'] as const) d.paths[k].sort();
  return d;
}

export function diffPackages(from: ManifestPackage[], to: ManifestPackage[]): PackageDiff {
  // One name may come in several architectures (multiarch): name:arch is the identity.
  const id = (x: ManifestPackage) =>
    from.concat(to).some((y) => y.name === x.name && y.architecture !== x.architecture)
      ? `${x.name}:${x.architecture}`
      : x.name;
  const before = new Map(from.map((x) => [id(x), x]));
  const after = new Map(to.map((x) => [id(x), x]));
  const d: PackageDiff = { upgraded: [], added: [], removed: [] };
  for (const [n, x] of after) {
    const old = before.get(n);
    if (!old) d.added.push({ name: n, version: x.version });
    else if (old.version !== x.version) d.upgraded.push({ name: n, from: old.version, to: x.version });
  }
  for (const [n, x] of before) if (!after.has(n)) d.removed.push({ name: n, version: x.version });
  for (const k of ['upgraded', 'added', 'removed'] as const) d[k].sort((a, b) => a.name.localeCompare(b.name));
  return d;
}

export function diffSides(host: string, a: DiffSide, b: DiffSide): HostDiff {
  const files: TargetDiff[] = [];
  for (const t of SWITCH_ORDER)
    if (a.targets[t] || b.targets[t]) files.push(diffEntries(t, a.targets[t] ?? [], b.targets[t] ?? []));
  const packages = a.packages || b.packages ? diffPackages(a.packages ?? [], b.packages ?? []) : undefined;
  return { host, from: a.label, to: b.label, files, ...(packages ? { packages } : {}) };
}

/** A writable item is one private copy: it compares as one entry with its artifact's digest. */
function writableEntry(path: string, art: Artifact): ManifestEntry {
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: art.size, digest: art.digest };
}

function releaseEntries(m: ReleaseManifest): ManifestEntry[] {
  const disks = new Set(m.items.filter((i) => i.writable).map((i) => i.path));
  return [
    ...m.entries.filter((e) => !disks.has(e.path)),
    ...m.items.filter((i) => i.writable).map((i) => writableEntry(i.path, i.artifact)),
  ];
}

/**
 * Release `id` of the host as its clients see it: on each target, the newest release up to `id`
 * (a target a release did not change keeps serving the one before).
 */
export async function releaseSide(host: string, id: string, targets: Target[], cache: Cache): Promise<DiffSide> {
  const side: DiffSide = { label: id, targets: {} };
  let found = false;
  for (const t of targets) {
    const st = await t.state(host);
    const pick = st.ids
      .filter((x) => x === id || (x < id && wentLive(st, x)))
      .sort()
      .pop();
    found ||= st.ids.includes(id);
    const m = pick ? await t.manifest(host, pick) : undefined;
    if (!m) continue;
    side.targets[t.name] = releaseEntries(m);
    const dir = t.releasePath ? t.releasePath(host, pick!) : undefined;
    if (t.name === 'conf') side.packages ??= await readPackages(cache, m.entries, dir);
    const pkgFiles = dir ? m.entries.filter(isPkgManifest).map((e) => join(dir, e.path)) : [];
    if (t.name === 'nfs' && pkgFiles.length) side.packages ??= await readPkgManifests(pkgFiles);
  }
  if (!found) throw errors.unknownRelease(host, id, (await releaseIds(host, targets)).sort());
  return side;
}

export async function releaseIds(host: string, targets: Target[]): Promise<string[]> {
  const ids = new Set<string>();
  for (const t of targets) for (const id of (await t.state(host)).ids) ids.add(id);
  return [...ids].sort();
}

/** The host's live release id (the newest id live on any target), if it was ever published. */
export async function liveId(host: string, targets: Target[]): Promise<string | undefined> {
  const live: string[] = [];
  for (const t of targets) {
    const c = (await t.state(host)).current;
    if (c) live.push(c);
  }
  return live.sort().pop();
}

/** What the newest build would publish: each target's entries, laid out as a publish would. */
export async function buildSide(
  graph: HostGraph,
  outputs: Map<string, Record<string, Artifact>>,
  cache: Cache,
): Promise<DiffSide> {
  const side: DiffSide = { label: 'build', targets: {} };
  const pkgFiles: string[] = [];
  for (const it of graph.publish) {
    const art = outputs.get(it.from.step)?.[it.from.output];
    if (!art) throw errors.publishUnbuilt(graph.host.name, it.from.step);
    const list = (side.targets[it.target] ??= []);
    if (it.writable) list.push(writableEntry(it.path, art));
    else {
      const planned = await planItem(cache, it.path, art, false);
      list.push(...planned.entries);
      if (it.target === 'nfs') pkgFiles.push(...planned.entries.filter(isPkgManifest).map((e) => planned.source(e)));
    }
  }
  if (side.targets.conf) side.packages = await readPackages(cache, side.targets.conf);
  if (pkgFiles.length) side.packages ??= await readPkgManifests(pkgFiles);
  return side;
}

async function readPackages(
  cache: Cache,
  entries: ManifestEntry[],
  releaseDir?: string,
): Promise<ManifestPackage[] | undefined> {
  const e = entries.find((x) => x.path === PACKAGES_PATH && x.type === 'file');
  if (!e?.digest) return undefined;
  const text = await readFile(cache.objectPath(e.digest), 'utf8').catch(() =>
    releaseDir ? readFile(join(releaseDir, PACKAGES_PATH), 'utf8').catch(() => undefined) : undefined,
  );
  if (text === undefined) return undefined;
  try {
    const m = JSON.parse(text) as PackageManifest;
    return m.format === PACKAGE_MANIFEST_FORMAT ? m.packages : undefined;
  } catch {
    return undefined;
  }
}

const isPkgManifest = (e: ManifestEntry) => e.type === 'file' && PKG_MANIFEST.test(e.path);

/** A FreeBSD root's packages, from the manifests its root step wrote (one per package archive). */
async function readPkgManifests(files: string[]): Promise<ManifestPackage[]> {
  const out: ManifestPackage[] = [];
  for (const f of files) {
    const m = parsePkgManifest(await readFile(f, 'utf8').catch(() => ''));
    if (m) out.push(m);
  }
  return out;
}

function parsePkgManifest(text: string): ManifestPackage | undefined {
  try {
    const m = JSON.parse(text) as { name?: unknown; version?: unknown; arch?: unknown; origin?: unknown };
    if (typeof m.name !== 'string' || typeof m.version !== 'string') return undefined;
    const arch = typeof m.arch === 'string' ? m.arch : '';
    return { name: m.name, version: m.version, architecture: arch, source: m.name, sourceVersion: m.version };
  } catch {
    return undefined;
  }
}
