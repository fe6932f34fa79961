import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

interface Entry {
  path: string;
  type: string;
  mode: number;
  size?: number;
  digest?: string;
  target?: string;
}

/**
 * What is wrong with a host's live release on one target root: the live symlink must resolve to
 * a committed release whose every manifest entry is present with its type, mode and content.
 */
export function checkLive(root: string, host: string): string[] {
  const link = join(root, host);
  if (!existsSync(link)) return ['the live path does not resolve'];
  const dir = realpathSync(link);
  const manifestFile = join(dir, '.netboot-release.json');
  if (!existsSync(manifestFile)) return [`${dir}: no release manifest (not a committed release)`];
  const m = JSON.parse(readFileSync(manifestFile, 'utf8')) as { entries: Entry[] };
  const problems: string[] = [];
  for (const e of m.entries) {
    const p = e.path === '.' ? dir : join(dir, e.path);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(p);
    } catch {
      problems.push(`${e.path}: missing`);
      continue;
    }
    if (e.type === 'dir' && !st.isDirectory()) problems.push(`${e.path}: not a directory`);
    if (e.type === 'symlink' && (!st.isSymbolicLink() || readlinkSync(p) !== e.target))
      problems.push(`${e.path}: link differs`);
    if (e.type === 'file') {
      if (!st.isFile() || (st.mode & 0o7777) !== e.mode) problems.push(`${e.path}: type or mode differs`);
      else if (createHash('sha256').update(readFileSync(p)).digest('hex') !== e.digest)
        problems.push(`${e.path}: content differs`);
    }
  }
  return problems;
}
