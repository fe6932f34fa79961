import { artifactRoots, type GcRoots } from '../cache/gc.js';
import type { Artifact } from '../core/plugin.js';
import type { Target } from './target.js';

/** Every artifact that a release of the hosts on the targets holds: gc must keep them all. */
export async function releaseRoots(targets: Target[], hosts: string[]): Promise<GcRoots> {
  const held: Artifact[] = [];
  for (const host of hosts)
    for (const t of targets)
      for (const id of (await t.state(host)).ids)
        for (const it of (await t.manifest(host, id))?.items ?? []) held.push(it.artifact);
  return artifactRoots(held);
}
