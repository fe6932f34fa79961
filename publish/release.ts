import { canonicalJson, sha256 } from '../base/canonical.js';
import type { ManifestEntry } from '../cache/tree.js';
import type { Artifact } from '../core/plugin.js';
import type { PublishLink, TargetName } from '../core/recipe.js';

/** One artifact of a release, as staged. */
export interface ReleaseItem {
  path: string;
  artifact: Artifact;
  writable: boolean;
  /** Writable items live in `<root>/.disks/<host>/<disk>`; the release holds a symlink to it. */
  disk?: { id: string; sig: DiskSig; source: string };
}

/** What identifies a writable disk's state at publish time: any write changes mtime or size. */
export interface DiskSig {
  ino: string;
  size: string;
  mtimeNs: string;
}

/**
 * A host's release on one target, stored as `.netboot-release.json` inside the release directory
 * (so it appears and disappears with it). `entries` lists every path for verification.
 */
export interface ReleaseManifest {
  v: 1;
  host: string;
  target: TargetName;
  id: string;
  /** Digest of what was asked for (items and links): equal digests mean nothing to publish. */
  digest: string;
  createdAt: string;
  items: ReleaseItem[];
  links: PublishLink[];
  /**
   * Every entry as placed: modes are what the release holds (a file shared with the cache has no
   * write bits, whatever its artifact's mode), so the live release can be checked against it.
   */
  entries: ManifestEntry[];
  /** Each file's `size:mtimeNs` when staged: a cheap check that it was not written since. */
  rows?: Record<string, string>;
}

export const MANIFEST_NAME = '.netboot-release.json';

export function releaseDigest(
  items: { path: string; artifact: Artifact; writable: boolean }[],
  links: PublishLink[],
): string {
  return sha256(
    canonicalJson({
      items: items.map((i) => ({
        path: i.path,
        kind: i.artifact.kind,
        digest: i.artifact.digest,
        mode: i.artifact.kind === 'file' ? i.artifact.mode : null,
        writable: i.writable,
      })),
      links,
    }),
  );
}

/** Release ids sort as numbers: 000001, 000002, ... */
export function nextId(existing: string[]): string {
  const max = existing.reduce((m, id) => Math.max(m, Number(id) || 0), 0);
  return String(max + 1).padStart(6, '0');
}

export const isReleaseId = (name: string) => /^\d{6}$/.test(name);
