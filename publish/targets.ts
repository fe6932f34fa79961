import type { Cache } from '../cache/store.js';
import type { ResolvedConfig } from '../core/config-validate.js';
import type { TargetName } from '../core/recipe.js';
import { LocalTarget } from './local-target.js';
import { SshTarget } from './ssh-target.js';
import type { Target } from './target.js';

/** The config's four SAN roots as targets: local directories, or ssh://user@host[:port]/path. */
function targetsOf(config: ResolvedConfig, cache: Cache): Record<TargetName, Target> {
  const make = (name: TargetName, root: string): Target =>
    root.startsWith('ssh://') ? new SshTarget(name, root, cache, config.san.ssh) : new LocalTarget(name, root, cache);
  return { tftp: make('tftp', config.san.tftp), nfs: make('nfs', config.san.nfs), nbd: make('nbd', config.san.nbd), conf: make('conf', config.san.conf) };
}

/** Runs `fn` with the config's targets and always closes them (SSH connections) afterwards. */
export async function withTargets<T>(config: ResolvedConfig, cache: Cache, fn: (t: Record<TargetName, Target>) => Promise<T>): Promise<T> {
  const targets = targetsOf(config, cache);
  try {
    return await fn(targets);
  } finally {
    for (const t of Object.values(targets)) await t.close?.();
  }
}
