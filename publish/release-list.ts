import type { Damage } from './release-check.js';
import type { Target } from './target.js';

/** One release id of a host, across the targets that hold it. */
export interface ReleaseRow {
  id: string;
  createdAt: string;
  targets: string[];
  live: string[];
  /** With verify: what differs from the manifest, per target ("not checked" where it cannot be). */
  damaged?: Record<string, Damage[] | 'not checked'>;
}

/** A host's releases on the targets, oldest first. */
export async function listReleases(host: string, targets: Target[], verify = false): Promise<ReleaseRow[]> {
  const rows = new Map<string, ReleaseRow>();
  for (const t of targets) {
    const st = await t.state(host);
    for (const id of st.ids) {
      const m = await t.manifest(host, id);
      const row = rows.get(id) ?? { id, createdAt: m?.createdAt ?? '', targets: [], live: [] };
      row.targets.push(t.name);
      if (st.current === id) row.live.push(t.name);
      if (verify) (row.damaged ??= {})[t.name] = t.check ? await t.check(host, id, 'hash') : 'not checked';
      rows.set(id, row);
    }
  }
  return [...rows.values()].sort((a, b) => a.id.localeCompare(b.id));
}
