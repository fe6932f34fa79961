import type { Cache } from '../cache/store.js';
import type { ResolvedConfig } from '../core/config-validate.js';
import type { TargetName } from '../core/recipe.js';
import { LocalTarget } from './local-target.js';
import { SshTarget } from './ssh-target.js';
import type { Target } from './target.js';

/** The config's four SAN roots as targets: local directories, or ssh://user@host[:port]/path. */
export function targetsOf(config: ResolvedConfig, cache: Cache): Record<TargetName, Target> {
  const make = (name: TargetName, root: string): Target =>
    root.startsWith('ssh://') ? new SshTarget(name, root, cache, config.san.ssh) : new LocalTarget(name, root, cache);
  return { tftp: make('tftp', config.san.tftp), nfs: make('nfs', config.san.nfs), nbd: make('nbd', config.san.nbd), conf: make('conf', config.san.conf) };
}
