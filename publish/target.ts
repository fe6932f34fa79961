import type { CheckDepth } from '../cache/artifact-check.js';
import type { ManifestEntry } from '../cache/tree.js';
import type { Artifact } from '../core/plugin.js';
import type { PublishLink, TargetName } from '../core/recipe.js';
import type { DiskSig, ReleaseManifest } from './release.js';
import type { Damage } from './release-check.js';

/** An artifact ready to stage: its entries (paths inside the host's directory) and where their bytes are. */
export interface PlannedItem {
  path: string;
  artifact: Artifact;
  writable: boolean;
  entries: ManifestEntry[];
  source(e: ManifestEntry): string;
  /** A writable item whose source did not change keeps the live disk (and what the host wrote). */
  reuse?: { id: string; sig: DiskSig };
}

export interface TargetState {
  /** The live release id, if the host was ever published here. */
  current?: string;
  ids: string[];
  /** Ids in the order they went live (last is current). */
  history: string[];
}

/**
 * Whether a release ever went live here. One that never did (it failed its boot test, or a kill
 * came between its stage and its switch) is never what a target "had" at a later point. Ids older
 * than the history's first entry predate history.json and count as live.
 */
export function wentLive(st: TargetState, id: string): boolean {
  if (st.history.includes(id) || !st.history.length) return true;
  return id < [...st.history].sort()[0];
}

export interface StageResult {
  bytesWritten: number;
  linked: number;
  copied: number;
}

/** One SAN root (tftp, nfs, nbd or conf), local or over SSH. */
export interface Target {
  readonly name: TargetName;
  describe(): string;
  state(host: string): Promise<TargetState>;
  manifest(host: string, id: string): Promise<ReleaseManifest | undefined>;
  free(): Promise<{ bytes: number; inodes: number; path: string }>;
  estimate(items: PlannedItem[], prev: ReleaseManifest | undefined): Promise<{ bytes: number; inodes: number }>;
  /** Builds the release beside the live one and commits it under its id (one rename). */
  /** `damaged`: paths of the live release that failed its check, never to be linked from it. */
  stage(
    host: string,
    id: string,
    items: PlannedItem[],
    links: PublishLink[],
    digest: string,
    prev: ReleaseManifest | undefined,
    damaged?: Set<string>,
  ): Promise<StageResult>;
  /** What in a release differs from its manifest. Absent where it cannot be checked cheaply (SSH). */
  check?(host: string, id: string, depth: CheckDepth): Promise<Damage[]>;
  /** Where release `id` of the host lies on this machine (local targets only: a boot test reads it there). */
  releasePath?(host: string, id: string): string;
  /** Makes `id` live with one atomic rename. */
  switch(host: string, id: string): Promise<void>;
  ensureLinks(host: string, links: PublishLink[]): Promise<void>;
  /** Deletes releases; returns the ids it deleted (one already gone is not among them). A failure throws. */
  remove(host: string, ids: string[]): Promise<string[]>;
  diskSig(host: string, diskId: string): Promise<DiskSig | undefined>;
  disks(host: string): Promise<string[]>;
  removeDisk(host: string, diskId: string): Promise<void>;
  cleanLeftovers(host: string): Promise<number>;
  /** Ends what the target holds open (an SSH master connection). */
  close?(): Promise<void>;
}
