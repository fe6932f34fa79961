// The iSCSI disks of the site: which backing store each host's target serves, the CHAP secret read
// from the SAN's secretFile, and the sparse files netboot creates once and never deletes.
import { spawnSync } from 'node:child_process';
import { link, lstat, mkdir, open, readFile, realpath, rm } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { isErrno, isMissing } from '../base/errno.js';
import { errors } from '../base/errors.js';
import { CHAP_SECRET, type TgtTarget } from '../plugins/server-configs/tgt.js';

/** A host's iSCSI params as its recipe has them (kvm-host, lxc-host: `params.iscsi`). */
export interface HostIscsi {
  host: string;
  ip: string;
  target: string;
  lun: number;
  fsType: string;
  chapUser?: string;
  /** The recipe's secretFile, the fallback when the SAN config names none. */
  secretFile?: string;
}

export interface DiskConfig {
  storage: string;
  disks: Record<string, { backingStore?: string; size: string; secretFile?: string }>;
}

/** A target to render, and the sparse file to create first when its store does not exist yet. */
export interface PlannedDisk {
  tgt: TgtTarget;
  create?: { size: string; fsType: string };
}

const inside = (p: string, root: string) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

/** The real path of `p`, through its nearest existing ancestor (a link there cannot lead out of the root). */
async function realish(p: string): Promise<string> {
  const rest: string[] = [];
  let at = resolve(p);
  for (;;) {
    try {
      return join(await realpath(at), ...rest.reverse());
    } catch (e) {
      if (!isMissing(e) || at === dirname(at)) throw e;
      rest.push(at.slice(dirname(at).length + 1));
      at = dirname(at);
    }
  }
}

/**
 * Every host's disk, checked before anything is written: a store outside the storage root, a
 * store two hosts claim, or a CHAP user without a readable secret is an error naming host and file.
 */
export async function planDisks(file: string, hosts: HostIscsi[], cfg: DiskConfig): Promise<PlannedDisk[]> {
  const root = await realish(cfg.storage);
  const owners = new Map<string, string>();
  const out: PlannedDisk[] = [];
  for (const h of [...hosts].sort((a, b) => (a.host < b.host ? -1 : 1))) {
    const disk = cfg.disks[h.host] ?? { size: '1G' };
    const store = disk.backingStore ?? join(cfg.storage, `${h.host}.img`);
    const real = await realish(store);
    const device = real.startsWith('/dev/');
    if (!device && !inside(real, root)) throw errors.iscsiStoreOutside(file, h.host, store, cfg.storage);
    const other = owners.get(real);
    if (other) throw errors.iscsiStoreShared(file, store, other, h.host);
    owners.set(real, h.host);
    const st = await lstat(real).catch((e: unknown) => {
      if (isMissing(e)) return undefined;
      throw e;
    });
    if (device && !st?.isBlockDevice())
      throw errors.iscsiStoreOutside(file, h.host, store, `${cfg.storage} (and it is no block device)`);
    const secretFile = disk.secretFile ?? h.secretFile;
    const chap = h.chapUser ? { user: h.chapUser, secret: await readSecret(file, h.host, secretFile) } : undefined;
    out.push({
      tgt: { host: h.host, ip: h.ip, iqn: h.target, store: real, lun: h.lun, ...(chap ? { chap } : {}) },
      ...(st ? {} : { create: { size: disk.size, fsType: h.fsType } }),
    });
  }
  return out;
}

async function readSecret(file: string, host: string, secretFile: string | undefined): Promise<string> {
  if (!secretFile) throw errors.secretFileMissing(file, host, '(not set)', 'is needed: the host has a CHAP user');
  const text = await readFile(secretFile, 'utf8').catch((e: unknown) => {
    if (isMissing(e)) throw errors.secretFileMissing(file, host, secretFile, 'does not exist');
    throw errors.secretFileMissing(file, host, secretFile, `cannot be read (${(e as Error).message})`);
  });
  const secret = text.replace(/\r?\n$/, '');
  if (!CHAP_SECRET.test(secret))
    throw errors.secretFileMissing(
      file,
      host,
      secretFile,
      'does not hold a CHAP secret (one line of 12-255 printable characters, no spaces or quotes)',
    );
  return secret;
}

const BYTES: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * Creates a missing store as a sparse file (0600, in a 0700 directory), formatted with the host's
 * file system when mke2fs makes it, then renamed into place: a crash leaves no half-made disk.
 * netboot never writes to or deletes a store after this.
 */
export async function createStore(d: PlannedDisk): Promise<void> {
  if (!d.create) return;
  const { store } = d.tgt;
  await mkdir(dirname(store), { recursive: true, mode: 0o700 });
  const tmp = `${store}.tmp-${process.pid}`;
  // A temp file of a killed run under this pid: it was never a disk.
  await rm(tmp, { force: true });
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.truncate(Number(d.create.size.slice(0, -1)) * BYTES[d.create.size.slice(-1)]);
    } finally {
      await fh.close();
    }
    if (/^ext[234]$/.test(d.create.fsType)) {
      const r = spawnSync('mke2fs', ['-q', '-F', '-t', d.create.fsType, '-L', d.tgt.host.slice(0, 16), tmp], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw errors.serverFailed('mke2fs', `${tmp}: ${r.stderr || r.error?.message}`);
    }
    // link() never replaces: a disk that appeared since the plan (another publish) is kept as it is.
    await link(tmp, store).catch((e: unknown) => {
      if (!isErrno(e, 'EEXIST')) throw e;
    });
  } finally {
    await rm(tmp, { force: true });
  }
}
