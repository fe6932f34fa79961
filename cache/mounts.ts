import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { unoctal } from './octal-escape.js';

const run = promisify(execFile);

/** Mount points at or below `dir` in this process's mount namespace, deepest first. */
export function mountsUnder(dir: string): string[] {
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const under = `${dir.replace(/\/+$/, '')}/`;
  return info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map(unoctal)
    .filter((m) => `${m}/`.startsWith(under))
    .sort((a, b) => b.length - a.length);
}

/**
 * Detaches whatever is mounted below a scratch directory before it is removed: an overlay a step
 * mounted and a kill left behind. `rm -rf` would otherwise walk into it (and stop at the mount point).
 */
export async function detachMounts(dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) await run('umount', ['-l', m]);
}
