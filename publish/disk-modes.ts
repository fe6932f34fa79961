import { execFile } from 'node:child_process';
import { chmod, chown } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { TargetName } from '../core/recipe.js';

const run = promisify(execFile);

/** The account Debian's nbd-server runs as (`user = nbd` in its config), if this machine has one. */
let nbdUser: Promise<{ uid: number; gid: number } | undefined> | undefined;
function nbdServerUser(): Promise<{ uid: number; gid: number } | undefined> {
  nbdUser ??= run('getent', ['passwd', 'nbd']).then(
    ({ stdout }) => {
      const [, , uid, gid] = stdout.trim().split(':');
      const ids = { uid: Number(uid), gid: Number(gid) };
      return Number.isInteger(ids.uid) && Number.isInteger(ids.gid) ? ids : undefined;
    },
    () => undefined,
  );
  return nbdUser;
}

/**
 * A writable disk is the host's whole root, /etc/shadow and its SSH host keys included: no
 * other local user may read it. `dir` is the host's disk directory on the target, `disk` one
 * disk in it. An image is 0600, owned by nbd-server's user on the nbd target (it must open it
 * read-write); a read-write root tree keeps its own modes (the client sees them: its / stays
 * 0755), and the directory holding it is 0700, so nobody on the SAN can walk into it. Only
 * root-run servers (the kernel's nfsd, nfs-ganesha) need to.
 */
export async function makeDiskPrivate(
  target: TargetName,
  dir: string,
  disk: string,
  kind: 'file' | 'tree',
): Promise<void> {
  const owner = kind === 'file' && target === 'nbd' ? await nbdServerUser() : undefined;
  if (kind === 'tree') await chmod(dir, 0o700);
  else if (owner) {
    // nbd-server must reach the image: the directory lets its group in, and nobody else.
    await chown(dir, 0, owner.gid);
    await chmod(dir, 0o750);
  } else await chmod(dir, 0o700);
  if (kind === 'tree') return;
  if (owner) await chown(disk, owner.uid, owner.gid);
  await chmod(disk, 0o600);
}

/** The same modes for a disk on an SSH target, as one shell command run there (paths quoted by `q`). */
export function remoteDiskPrivate(
  target: TargetName,
  dir: string,
  disk: string,
  kind: 'file' | 'tree',
  q: (s: string) => string,
): string {
  const [d, f] = [q(dir), q(disk)];
  if (kind === 'tree') return `chmod 0700 ${d}`;
  if (target !== 'nbd') return `chmod 0600 ${f}; chmod 0700 ${d}`;
  // An SSH user that may not chown (not root) leaves the image its own, and the directory 0700.
  const toNbd = `getent passwd nbd && chown nbd:nbd ${f} && chgrp nbd ${d} && chmod 0750 ${d}`;
  return `chmod 0600 ${f}; { ${toNbd}; } >/dev/null 2>&1 || chmod 0700 ${d}`;
}
