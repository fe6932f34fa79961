import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errors } from '../base/errors.js';
import type { TargetName } from '../core/recipe.js';
import type { StagedRelease } from '../publish/publisher.js';

/** SAN roots in which a staged release (not yet live) is what the host's paths lead to. */
export interface StagedRoots {
  tftp: string;
  nbd: string;
  /** The staged location of a path under the host's live NFS directory. */
  nfsSource: (path: string) => string;
  remove(): void;
}

/**
 * A scratch view of the SAN made of symlinks: `<tmp>/tftp/<host>` leads to the staged release on
 * each target it changed (to the live release on the others), and every other top-level name of
 * the TFTP root (site files such as grub/grub.cfg) to the real one. The boot test reads these
 * roots; the live release keeps serving, untouched, until the switch.
 */
export function stagedRoots(s: StagedRelease, roots: Record<TargetName, string>): StagedRoots {
  const where = (name: TargetName) => {
    const t = s.changed.find((x) => x.name === name);
    if (t && !t.releasePath) throw errors.bootTestUnsupported(s.host, `its ${name} root is not on this machine`);
    return t?.releasePath ? t.releasePath(s.host, s.id) : join(roots[name], s.host);
  };
  const dir = mkdtempSync(join(tmpdir(), `netboot-staged-${s.host}-`));
  try {
    const tftp = linkRoot(roots.tftp, join(dir, 'tftp'), s.host, where('tftp'));
    const nbd = linkRoot(roots.nbd, join(dir, 'nbd'), s.host, where('nbd'));
    const liveNfs = join(roots.nfs, s.host);
    const stagedNfs = where('nfs');
    return {
      tftp,
      nbd,
      nfsSource: (path) =>
        path === liveNfs || path.startsWith(`${liveNfs}/`) ? stagedNfs + path.slice(liveNfs.length) : path,
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** `view/<host>` -> the release to boot; every other top-level name of `real` -> its real path. */
function linkRoot(real: string, view: string, host: string, release: string): string {
  mkdirSync(view);
  let names: string[] = [];
  let root = real;
  try {
    root = realpathSync(real);
    names = readdirSync(root);
  } catch {
    // a root nothing was ever published to
  }
  try {
    symlinkSync(realpathSync(release), join(view, host));
  } catch {
    // no release of this host on that root (a host without an NBD disk): the boot test says what is missing
  }
  for (const n of names) if (n !== host && !n.startsWith('.')) symlinkSync(join(root, n), join(view, n));
  return view;
}
