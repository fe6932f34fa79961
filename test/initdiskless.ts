// rc.initdiskless's documented behaviour, played against a published NFS root. Written from the
// script's manual comments (its header and the comments of each pass) and diskless(8), not from
// its code: FreeBSD's sh, mdmfs and mount cannot run here. The real readers that can run here do:
// bsdtar (what /rescue/tar is) extracts the archives, cp -Rp copies the directories.
//
// What the comments say:
// - Templates under /conf, scanned in this order, later ones overriding earlier ones: base,
//   default, the broadcast address, bcast/<broadcast>, the bootp class (T134), the IP, ip/<IP>;
//   templates that do not exist are skipped.
// - /conf/T/M (a directory) makes a memory file system on /M; /conf/T/M/md_size gives its size in
//   512-byte blocks (default 10240), the last one in scanning order winning. A memory file system
//   is created once, the first time a template needs it.
// - Per template: a directory M is copied onto /M (cp -Rp) only when T has no M.cpio.gz; an
//   M.cpio.gz is extracted with `cd / ; tar -xpf`; then M.remove lists paths to delete under /M.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface Booted {
  /** The client's view of `/` after rc.initdiskless: memory file systems here, the NFS root elsewhere. */
  view: string;
  /** Memory file systems made, in creation order, with their size in 512-byte blocks. */
  memoryDisks: { mount: string; sectors: number }[];
  /** What was done, in order: `copy T/M`, `extract T/M.cpio.gz`, `remove T/M`. */
  steps: string[];
  /** Read a path as the client sees it: from a memory file system, else from the NFS root. */
  read(path: string): string;
  has(path: string): boolean;
}

/** `conf`: the /conf to read (default: the root's own; a copy with more templates, in tests). */
export function playInitdiskless(
  root: string,
  o: { ip: string; broadcast?: string; view: string; conf?: string },
): Booted {
  const conf = o.conf ?? join(root, 'conf');
  const templates = ['base', 'default'];
  if (o.broadcast) templates.push(o.broadcast, `bcast/${o.broadcast}`);
  templates.push(o.ip, `ip/${o.ip}`);
  const present = templates.filter((t) => isDir(join(conf, t)));

  // First pass: sizes, the last md_size in scanning order for each M.
  const size = new Map<string, number>();
  for (const t of present)
    for (const m of readdirSync(join(conf, t))) {
      const f = join(conf, t, m, 'md_size');
      if (isDir(join(conf, t, m)) && existsSync(f)) size.set(m, Number(readFileSync(f, 'utf8').trim()));
    }

  const memoryDisks: Booted['memoryDisks'] = [];
  const steps: string[] = [];
  mkdirSync(o.view, { recursive: true });
  const mountMd = (m: string) => {
    if (memoryDisks.some((d) => d.mount === `/${m}`)) return;
    memoryDisks.push({ mount: `/${m}`, sectors: size.get(m) ?? 10240 });
    // A new memory file system is empty: it hides what the NFS root has at /M.
    mkdirSync(join(o.view, m), { mode: 0o755 });
  };

  // Second pass, per template: directories without an archive, then archives, then removals.
  for (const t of present) {
    const dir = join(conf, t);
    const names = readdirSync(dir).sort();
    for (const m of names)
      if (isDir(join(dir, m)) && !existsSync(join(dir, `${m}.cpio.gz`))) {
        mountMd(m);
        // BSD `cp -Rp T/M/ /M` copies the contents of T/M; GNU cp says that as T/M/. .
        execFileSync('cp', ['-Rp', `${join(dir, m)}/.`, join(o.view, m)]);
        steps.push(`copy ${t}/${m}`);
      }
    for (const a of names.filter((n) => n.endsWith('.cpio.gz') && statSync(join(dir, n)).isFile())) {
      mountMd(a.slice(0, -'.cpio.gz'.length));
      // cd / ; tar -xpf /conf/T/M.cpio.gz (the view stands for /).
      execFileSync('bsdtar', ['-xpf', join(dir, a)], { cwd: o.view });
      steps.push(`extract ${t}/${a}`);
    }
    for (const r of names.filter((n) => n.endsWith('.remove'))) {
      const m = r.slice(0, -'.remove'.length);
      mountMd(m);
      for (const p of readFileSync(join(dir, r), 'utf8').split(/\s+/).filter(Boolean))
        execFileSync('rm', ['-rf', '--', join(o.view, m, p)]);
      steps.push(`remove ${t}/${m}`);
    }
  }
  const onMd = (p: string) => memoryDisks.some((d) => p === d.mount || p.startsWith(`${d.mount}/`));
  const where = (p: string) => (onMd(p) ? join(o.view, p) : join(root, p));
  return {
    view: o.view,
    memoryDisks,
    steps,
    read: (p) => readFileSync(where(p), 'utf8'),
    has: (p) => existsSync(where(p)),
  };
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}
