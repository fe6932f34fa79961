// The `site` release on the conf target: every live host's server configs as one file set per
// server (one dnsmasq conf-dir, one nbd-server conf.d, one exports file, the tgt targets), staged
// beside the live one and switched with one rename, after the hosts. Its files are written here,
// not taken from the cache: a tgt file holds a CHAP secret, which never enters the cache.
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { sha256 } from '../base/canonical.js';
import { isErrno, isMissing } from '../base/errno.js';
import { fsyncDir, syncFileSystem } from '../cache/atomic.js';
import { renderSite, type SiteFile, type SiteHost } from '../plugins/server-configs/site.js';
import type { LocalTarget } from './local-target.js';
import { prune, runReloads } from './publisher.js';
import { MANIFEST_NAME, nextId, type ReleaseManifest } from './release.js';
import { safeDir } from './safe-dirs.js';
import { createStore, type DiskConfig, type HostIscsi, planDisks } from './site-disks.js';

/** The site release's name on the conf target (a host may not be called so). */
export const SITE = 'site';

export interface SiteOptions {
  /** The config file, named by every error. */
  file: string;
  conf: LocalTarget;
  server: string;
  tftpRoot: string;
  /** Every configured host; only those with a live conf release are in the site. */
  hosts: string[];
  iscsi: HostIscsi[];
  disks: DiskConfig;
  keep: number;
  reload?: string;
  notice: (line: string) => void;
}

export interface SitePublish {
  changed: boolean;
  id?: string;
  hosts: string[];
  /** Backing stores created by this publish (sparse files, never deleted by netboot). */
  created: string[];
}

/** Renders the site from the live hosts and publishes it when it differs from the live site. */
export async function publishSite(o: SiteOptions): Promise<SitePublish> {
  // A kill mid-publish may have left a staging dir or a temp link: removed before anything else.
  await o.conf.cleanLeftovers(SITE);
  const live = await liveHosts(o.conf.root, o.hosts);
  const names = new Set(live.map((h) => h.name));
  // Everything is checked before anything is written: a bad disk leaves the SAN as it was.
  const disks = await planDisks(
    o.file,
    o.iscsi.filter((d) => names.has(d.host)),
    o.disks,
  );
  const files = renderSite({ server: o.server, tftpRoot: o.tftpRoot, hosts: live, tgt: disks.map((d) => d.tgt) });
  const created: string[] = [];
  for (const d of disks.filter((x) => x.create)) {
    await createStore(d);
    created.push(d.tgt.store);
    o.notice(`site: created iSCSI disk ${d.tgt.store} for ${d.tgt.host} (${d.create!.size}, sparse); never deleted`);
  }
  const st = await o.conf.state(SITE);
  if (st.current && (await sameFiles(join(o.conf.root, '.releases', SITE, st.current), files)))
    return { changed: false, id: st.current, hosts: [...names], created };
  const id = nextId(st.ids);
  await stage(o.conf.root, id, files);
  await o.conf.switch(SITE, id);
  await runReloads(SITE, id, [o.conf], { conf: o.reload });
  await prune(SITE, [o.conf], { keep: o.keep, notice: o.notice });
  return { changed: true, id, hosts: [...names], created };
}

/** The hosts whose conf release is live, each with its files (the release manifest left out). */
async function liveHosts(root: string, hosts: string[]): Promise<SiteHost[]> {
  const out: SiteHost[] = [];
  for (const name of [...hosts].sort()) {
    const link = await readlink(join(root, name)).catch((e: unknown) => {
      if (isMissing(e) || isErrno(e, 'EINVAL')) return undefined;
      throw e;
    });
    if (!link) continue;
    const files = await readTree(join(root, name), '', (p) => SITE_SOURCES.test(p));
    out.push({ name, files: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.content])) });
  }
  return out;
}

/** The parts of a host's conf tree the site is made of (a recipe may publish other things there). */
const SITE_SOURCES = /^(dnsmasq\.d|nbd-server\/conf\.d|exports\.d|ganesha|freebsd|dhcpd|openwrt)\/[^/]+$/;

async function readTree(dir: string, rel = '', want = (_p: string) => true): Promise<Record<string, SiteFile>> {
  const out: Record<string, SiteFile> = {};
  for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, await readTree(dir, p, want));
    else if (e.isFile() && want(p)) {
      const st = await lstat(join(dir, p));
      out[p] = { content: await readFile(join(dir, p), 'utf8'), mode: st.mode & 0o7777 };
    }
  }
  return out;
}

async function sameFiles(dir: string, want: Record<string, SiteFile>): Promise<boolean> {
  const have = await readTree(dir).catch(() => undefined);
  if (!have) return false;
  delete have[MANIFEST_NAME];
  const keys = Object.keys(want);
  if (Object.keys(have).length !== keys.length) return false;
  return keys.every((k) => have[k]?.content === want[k].content && have[k].mode === want[k].mode);
}

/** Writes the release beside the live one and commits it under its id with one rename. */
async function stage(root: string, id: string, files: Record<string, SiteFile>): Promise<void> {
  const base = join(root, '.releases', SITE);
  await safeDir(root, `.releases/${SITE}`);
  const dir = join(base, `.staging-${id}-${process.pid}-${randomBytes(3).toString('hex')}`);
  await mkdir(dir, { mode: 0o755 });
  try {
    const entries: ReleaseManifest['entries'] = [];
    for (const [path, f] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true, mode: 0o755 });
      // Created with its mode: a secret is never readable by others, not even for a moment.
      await writeFile(join(dir, path), f.content, { mode: f.mode, flag: 'wx' });
      await chmod(join(dir, path), f.mode);
      entries.push({
        path,
        type: 'file',
        mode: f.mode,
        uid: 0,
        gid: 0,
        size: Buffer.byteLength(f.content),
        // No digest of a file with a secret in it: an unsalted digest would let a guess be checked.
        ...(f.mode & 0o044 ? { digest: sha256(f.content) } : {}),
      });
    }
    const digest = sha256(JSON.stringify(entries));
    const manifest = { v: 1, host: SITE, target: 'conf', id, digest, createdAt: new Date().toISOString() };
    await writeFile(join(dir, MANIFEST_NAME), JSON.stringify({ ...manifest, items: [], links: [], entries }));
    syncFileSystem(dir);
    await rename(dir, join(base, id));
    await fsyncDir(base);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
