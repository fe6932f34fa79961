import { posix } from 'node:path';
import { errors } from '../base/errors.js';
import type { ManifestEntry } from '../cache/tree.js';
import { type Finding, privateName, scanFile } from './private-scan.js';
import type { PlannedItem } from './target.js';

/** Per file digest: what its scan found, as suffixes of its path ('' or ':<member>'). */
const scanned = new Map<string, Promise<{ suffix: string; why: string }[]>>();

/**
 * TFTP is unauthenticated: whatever is under its root is public. Before anything is staged, the
 * items bound for it are checked: no key material or password file (by name, by content, inside
 * cpio and tar archives too) and no symlink out of the host's directory (a TFTP server follows
 * it: `rootlink -> /` served /etc/passwd). `allow` lists paths (a file, a directory, an archive
 * or `archive:member`) the config declares public on purpose.
 */
export async function refusePrivate(
  host: string,
  target: string,
  items: PlannedItem[],
  allow: readonly string[],
): Promise<void> {
  const found: Finding[] = [];
  for (const it of items)
    for (const e of it.entries) {
      if (e.type === 'symlink') {
        const why = escapes(e);
        if (why) found.push({ path: e.path, why });
        continue;
      }
      if (e.type !== 'file') continue;
      const byName = privateName(e.path);
      if (byName) {
        found.push({ path: e.path, why: byName });
        continue;
      }
      let p = scanned.get(e.digest!);
      if (!p) {
        p = scanFile(it.source(e), '').then((fs) => fs.map((f) => ({ suffix: f.path, why: f.why })));
        scanned.set(e.digest!, p);
      }
      for (const f of await p) found.push({ path: e.path + f.suffix, why: f.why });
    }
  const refused = found.filter((f) => !allowed(f.path, allow));
  if (refused.length) throw errors.privateContent(host, target, refused);
}

function escapes(e: ManifestEntry): string | undefined {
  const to = e.target ?? '';
  if (to.startsWith('/')) return `a symlink to ${to}, outside the published tree (the TFTP server would follow it)`;
  const r = posix.normalize(posix.join(posix.dirname(e.path), to));
  if (r === '..' || r.startsWith('../')) return `a symlink to ${to}, which leads out of the host's directory`;
  return undefined;
}

function allowed(path: string, allow: readonly string[]): boolean {
  return allow.some((a) => path === a || path.startsWith(`${a}/`) || path.startsWith(`${a}:`));
}
