import type { Cache } from '../cache/store.js';
import { perTarget, type TargetName } from '../core/targets.js';
import { LocalTarget } from './local-target.js';
import { type SshOptions, SshTarget } from './ssh-target.js';
import type { Target } from './target.js';

/** The SAN as publish needs it: one root per target, and how to reach ssh:// roots. */
export type SanRoots = Record<TargetName, string> & { ssh: SshOptions };

/** The config's four SAN roots as targets: local directories, or ssh://user@host[:port]/path. */
function targetsOf(san: SanRoots, cache: Cache): Record<TargetName, Target> {
  const make = (name: TargetName, root: string): Target =>
    root.startsWith('ssh://') ? new SshTarget(name, root, cache, san.ssh) : new LocalTarget(name, root, cache);
  return perTarget((name) => make(name, san[name]));
}

/** Runs `fn` with the config's targets and always closes them (SSH connections) afterwards. */
export async function withTargets<T>(
  san: SanRoots,
  cache: Cache,
  fn: (t: Record<TargetName, Target>) => Promise<T>,
): Promise<T> {
  const targets = targetsOf(san, cache);
  try {
    return await fn(targets);
  } finally {
    for (const t of Object.values(targets)) await t.close?.();
  }
}
