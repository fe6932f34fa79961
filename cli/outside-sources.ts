import { relative, resolve } from 'node:path';
import type { HostGraph } from '../core/graph.js';

/**
 * Local sources (an `overlay`, a secret file) outside the config's directory are allowed: an
 * admin may well lay /srv/site/overlay over a root. But they are easy to get wrong (`/etc/ssh`
 * puts the build host's own keys into a client's root), so each is named, once per command.
 * Files of the build machine a plugin declares as `hostFiles` (boot loaders) are its own choice.
 */
export function outsideSources(graphs: HostGraph[], configDir: string): string[] {
  const seen = new Map<string, string[]>();
  for (const g of graphs)
    for (const n of g.order) {
      const own = new Set((n.plugin.hostFiles ?? []).map((f) => f.path));
      for (const p of n.plugin.sources?.(structuredClone(n.params) as never) ?? []) {
        const abs = resolve(configDir, p);
        const rel = relative(configDir, abs);
        if (own.has(p) || (rel !== '..' && !rel.startsWith('../'))) continue;
        seen.set(abs, [...(seen.get(abs) ?? []), `${g.host.name}/${n.id}`]);
      }
    }
  return [...seen].map(
    ([abs, at]) => `local source ${abs} (${at.join(', ')}) is outside the config's directory ${configDir}`,
  );
}
