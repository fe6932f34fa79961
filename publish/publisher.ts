import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { errnoOf } from '../base/errno.js';
import { errors } from '../base/errors.js';
import type { Cache } from '../cache/store.js';
import type { ManifestEntry } from '../cache/tree.js';
import type { HostGraph } from '../core/graph.js';
import type { Artifact } from '../core/plugin.js';
import type { PublishLink, TargetName } from '../core/recipe.js';
import { refusePrivate } from './private-check.js';
import { nextId, type ReleaseManifest, releaseDigest } from './release.js';
import type { Damage } from './release-check.js';
import type { PlannedItem, StageResult, Target } from './target.js';

/** Data first, the boot entry point last: a client that gets the new TFTP entry finds the new data. */
export const SWITCH_ORDER: TargetName[] = ['nbd', 'nfs', 'conf', 'tftp'];

export interface PublishOptions {
  freshDisk: boolean;
  keep: number;
  reload: Partial<Record<TargetName, string>>;
  notice: (line: string) => void;
  /** The live release is checked by hash rather than by stat (`--verify`). */
  verify?: boolean;
  /** Paths of the host's TFTP directory the config declares public although they look private. */
  allowPublic?: readonly string[];
  /**
   * Runs after the new release is staged (committed under its id, not live) and before any
   * target switches: a throw leaves every live release as it was (boot-before-switch).
   */
  beforeSwitch?: (staged: StagedRelease) => Promise<void>;
}

/** A staged release: its id, and the targets it changed (the others keep serving their live release). */
export interface StagedRelease {
  host: string;
  id: string;
  changed: Target[];
}

export interface TargetOutcome {
  target: TargetName;
  root: string;
  id: string;
  changed: boolean;
  stage?: StageResult;
}

export interface HostPublish {
  host: string;
  changed: boolean;
  id?: string;
  targets: TargetOutcome[];
  pruned: string[];
  /** Live files that differed from their release's manifest, republished in this release. */
  repaired: ({ target: TargetName } & Damage)[];
}

interface TargetPlan {
  target: Target;
  items: PlannedItem[];
  links: PublishLink[];
  digest: string;
  prev?: ReleaseManifest;
  current?: string;
  ids: string[];
  changed: boolean;
  damaged?: Set<string>;
}

/** Publishes one built host: stage every changed target, then switch them in SWITCH_ORDER. */
export async function publishHost(
  graph: HostGraph,
  outputs: Map<string, Record<string, Artifact>>,
  targets: Record<TargetName, Target>,
  cache: Cache,
  o: PublishOptions,
): Promise<HostPublish> {
  const host = graph.host.name;
  const plans = await planTargets(graph, outputs, targets, cache);
  // Before anything else, and also when nothing changed: a kill may have left leftovers on any target.
  for (const p of plans) await p.target.cleanLeftovers(host);
  const repaired = await findDamage(host, plans, o);
  // Before anything is staged: a refusal leaves every target as it was.
  for (const p of plans.filter((q) => q.changed && q.target.name === 'tftp'))
    await refusePrivate(host, 'tftp', p.items, o.allowPublic ?? []);
  if (!plans.some((p) => p.changed)) {
    return {
      host,
      changed: false,
      targets: plans.map((p) => ({ target: p.target.name, root: p.target.describe(), id: p.current!, changed: false })),
      pruned: [],
      repaired,
    };
  }
  await planDisks(host, plans, o);
  const id = nextId(plans.flatMap((p) => p.ids));
  await checkSpace(host, plans);
  const outcomes = await stageChanged(host, id, plans);
  try {
    await o.beforeSwitch?.({ host, id, changed: plans.filter((q) => q.changed).map((q) => q.target) });
  } catch (e) {
    // The refused release stays staged to be looked at, but never live; pruning bounds how many
    // pile up when a host fails night after night (the live one and the one before are kept).
    await prune(
      host,
      plans.map((p) => p.target),
      o,
    ).catch(() => undefined);
    throw e;
  }
  for (const p of plans.filter((q) => q.changed)) {
    await p.target.switch(host, id);
    await p.target.ensureLinks(host, p.links);
  }
  await runReloads(
    host,
    id,
    plans.filter((p) => p.changed).map((p) => p.target),
    o.reload,
  );
  const pruned = await prune(
    host,
    plans.map((p) => p.target),
    o,
  );
  return { host, changed: true, id, targets: outcomes, pruned, repaired };
}

/** What each target of the host would hold, and whether that differs from its live release. */
async function planTargets(
  graph: HostGraph,
  outputs: Map<string, Record<string, Artifact>>,
  targets: Record<TargetName, Target>,
  cache: Cache,
): Promise<TargetPlan[]> {
  const host = graph.host.name;
  const plans: TargetPlan[] = [];
  for (const name of SWITCH_ORDER) {
    const mine = graph.publish.filter((i) => i.target === name);
    const links = graph.links.filter((l) => l.target === name);
    if (!mine.length && !links.length) continue;
    const target = targets[name];
    const st = await target.state(host);
    const prev = st.current ? await target.manifest(host, st.current) : undefined;
    const items: PlannedItem[] = [];
    for (const it of mine) {
      const art = outputs.get(it.from.step)?.[it.from.output];
      if (!art) throw errors.publishUnbuilt(host, it.from.step);
      items.push(await planItem(cache, it.path, art, !!it.writable));
    }
    // Items may nest (a tree laid into another's directory), but never put two things at one path.
    const seen = new Set<string>();
    for (const it of items)
      for (const e of it.entries) {
        if (seen.has(e.path)) throw errors.publishOverlap(host, name, e.path);
        seen.add(e.path);
      }
    const digest = releaseDigest(items, links);
    plans.push({
      target,
      items,
      links,
      digest,
      prev,
      current: st.current,
      ids: st.ids,
      changed: prev?.digest !== digest,
    });
  }
  return plans;
}

/**
 * The live release shares inodes with the cache, and anyone with write access to the SAN can
 * edit it: what differs from its manifest is published again, from the (checked) cache.
 */
async function findDamage(host: string, plans: TargetPlan[], o: PublishOptions): Promise<HostPublish['repaired']> {
  const repaired: HostPublish['repaired'] = [];
  for (const p of plans) {
    if (!p.current || !p.target.check) continue;
    const damage = await p.target.check(host, p.current, o.verify ? 'hash' : 'stat');
    if (!damage.length) continue;
    for (const d of damage) {
      const what = `${p.target.name}:${d.path} in live release ${p.current}`;
      o.notice(`${host}: ${what} is damaged (${d.problem}); publishing it again`);
    }
    repaired.push(...damage.map((d) => ({ target: p.target.name, ...d })));
    p.changed = true;
    p.damaged = new Set(damage.map((d) => d.path));
  }
  return repaired;
}

/** Writable disks: keep the live one when its source is unchanged; never drop a written one silently. */
async function planDisks(host: string, plans: TargetPlan[], o: PublishOptions): Promise<void> {
  for (const p of plans)
    for (const it of p.items.filter((i) => i.writable)) {
      const before = p.prev?.items.find((i) => i.path === it.path && i.disk);
      if (!before?.disk) continue;
      const now = await p.target.diskSig(host, before.disk.id);
      if (before.disk.source === it.artifact.digest && now) {
        it.reuse = { id: before.disk.id, sig: before.disk.sig };
        continue;
      }
      const written = !!now && JSON.stringify(now) !== JSON.stringify(before.disk.sig);
      if (written && !o.freshDisk) throw errors.diskWritten(host, p.target.describe(), it.path, p.current!);
      if (written)
        o.notice(
          `${host}: the host wrote to ${p.target.name}:${it.path} since release ${p.current}; ` +
            `that disk is kept with release ${p.current} and protected from gc`,
        );
    }
}

async function checkSpace(host: string, plans: TargetPlan[]): Promise<void> {
  for (const p of plans.filter((q) => q.changed)) {
    const need = await p.target.estimate(p.items, p.prev);
    const free = await p.target.free();
    if (need.bytes > free.bytes || need.inodes > free.inodes)
      throw errors.noSpace(host, free.path, need.bytes, free.bytes);
  }
}

async function stageChanged(host: string, id: string, plans: TargetPlan[]): Promise<TargetOutcome[]> {
  const outcomes: TargetOutcome[] = [];
  for (const p of plans) {
    if (!p.changed) {
      outcomes.push({ target: p.target.name, root: p.target.describe(), id: p.current!, changed: false });
      continue;
    }
    let stage: StageResult;
    try {
      stage = await p.target.stage(host, id, p.items, p.links, p.digest, p.prev, p.damaged);
    } catch (e) {
      // The stage removed its own directory; nothing was switched, so every live release is intact.
      if (errnoOf(e) === 'ENOSPC') throw errors.noSpace(host, p.target.describe(), 0, 0);
      throw e;
    }
    outcomes.push({ target: p.target.name, root: p.target.describe(), id, changed: true, stage });
  }
  return outcomes;
}

export async function planItem(cache: Cache, path: string, art: Artifact, writable: boolean): Promise<PlannedItem> {
  const prefix = path === '.' ? '' : `${path.replace(/\/$/, '')}/`;
  if (art.kind === 'file') {
    const e: ManifestEntry = { path, type: 'file', mode: art.mode, uid: 0, gid: 0, size: art.size, digest: art.digest };
    return { path, artifact: art, writable, entries: [e], source: () => cache.objectPath(art.digest) };
  }
  if (writable)
    // A writable tree is placed whole, as one private copy: no per-entry staging.
    return { path, artifact: art, writable, entries: [], source: () => cache.treePath(art.digest) };
  const original = new Map<string, string>();
  const entries = (await cache.manifest(art.digest)).map((e) => {
    const p = e.path === '.' ? (prefix ? prefix.slice(0, -1) : '.') : prefix + e.path;
    original.set(p, e.path);
    return { ...e, path: p };
  });
  return {
    path,
    artifact: art,
    writable,
    entries,
    source: (e) => join(cache.treePath(art.digest), original.get(e.path)!),
  };
}

/** Reload hooks: run after the switch. A failure is reported; the new release stays live. */
export async function runReloads(
  host: string,
  id: string,
  switched: Target[],
  reload: Partial<Record<TargetName, string>>,
) {
  const failures: string[] = [];
  for (const t of switched) {
    const cmd = reload[t.name];
    if (!cmd) continue;
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('sh', ['-c', cmd], {
        env: {
          ...process.env,
          NETBOOT_HOST: host,
          NETBOOT_RELEASE: id,
          NETBOOT_TARGET: t.name,
          NETBOOT_ROOT: t.describe(),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('error', (e) => resolve({ code: 127, out: e.message }));
      child.on('close', (code) => resolve({ code, out }));
    });
    if (r.code !== 0)
      failures.push(
        `${t.name}: \`${cmd}\` exited with code ${r.code}` +
          `${r.out.trim() ? `: ${r.out.trim().split('\n').slice(-5).join(' | ')}` : ''}`,
      );
  }
  if (failures.length) throw errors.reloadFailed(host, id, failures);
}

/**
 * Keeps the newest `keep` releases per target, and always the live one and the one live before
 * it. A disk no kept release uses is deleted only if the host never wrote to it.
 */
export async function prune(
  host: string,
  targets: Target[],
  o: { keep: number; notice: (l: string) => void; dropWritten?: boolean },
): Promise<string[]> {
  const removed: string[] = [];
  for (const t of targets) {
    const st = await t.state(host);
    const ids = [...st.ids].sort();
    const keep = new Set(ids.slice(-Math.max(1, o.keep)));
    if (st.current) keep.add(st.current);
    const prevLive = st.history.filter((h) => h !== st.current).pop();
    if (prevLive) keep.add(prevLive);
    const doomed = ids.filter((i) => !keep.has(i));
    const diskInfo = new Map<string, { sig: string; source: string }>();
    const usedDisks = new Set<string>();
    for (const i of ids) {
      const m = await t.manifest(host, i);
      for (const it of m?.items ?? [])
        if (it.disk) {
          diskInfo.set(it.disk.id, { sig: JSON.stringify(it.disk.sig), source: it.disk.source });
          if (keep.has(i)) usedDisks.add(it.disk.id);
        }
    }
    // Only what was really deleted is reported: a release already gone was not pruned by us.
    removed.push(...(await t.remove(host, doomed)).map((d) => `${t.name}:${d}`));
    for (const d of await t.disks(host)) {
      if (usedDisks.has(d)) continue;
      const info = diskInfo.get(d);
      const now = await t.diskSig(host, d);
      const written = !info || !now || JSON.stringify(now) !== info.sig;
      if (written && !o.dropWritten) {
        if (info)
          o.notice(
            `${host}: kept ${t.name} disk ${d}: the host wrote to it (netboot gc --drop-written-disks removes it)`,
          );
        continue;
      }
      await t.removeDisk(host, d);
    }
  }
  return removed;
}
