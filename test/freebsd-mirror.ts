// A local FreeBSD mirror made by the test, laid out as FreeBSD's: `<mirror>/<arch>/<release>/`
// with the sets and a MANIFEST in make-manifest.sh's format, and a pkg repository
// (`FreeBSD:<major>:<arch>/quarterly/`) with a packagesite.pkg and zstd-compressed .pkg files.
// Served over HTTP on 127.0.0.1, with a log of every request.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { writeTar } from './freebsd-hostile.js';
import { treeWriter } from './freebsd-sets.js';

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** A base.txz for a release of major version `major`: what the recipe and rc.initdiskless touch. */
function writeBase(dir: string, major: number, stamp = ''): void {
  const root = join(dir, `base-root-${major}${stamp}`);
  const file = treeWriter(root);
  file('bin/sh', `#!/bin/sh\n# stands in for FreeBSD ${major} sh${stamp}\n`, 0o555);
  file('rescue/tar', 'bsdtar\n', 0o555);
  file('boot/pxeboot', `pxeboot of FreeBSD ${major}\n`, 0o444);
  file('boot/loader', 'loader\n', 0o555);
  if (major >= 12) {
    // Since 12 the loader runs Lua; loader.efi is what UEFI network boots load.
    file('boot/lua/loader.lua', '-- loader.lua\n', 0o444);
    file('boot/loader.efi', 'loader.efi\n', 0o444);
  }
  file('boot/defaults/loader.conf', 'autoboot_delay="10"\n', 0o444);
  file('etc/rc', '#!/bin/sh\n', 0o644);
  file('etc/rc.initdiskless', '#!/bin/sh\n', 0o444);
  file('etc/defaults/rc.conf', 'sshd_enable="NO"\n', 0o444);
  file('etc/fstab', '# the root image own fstab: replaced on a diskless host\n', 0o644);
  file('etc/master.passwd', 'root::0:0::0:0:Charlie &:/root:/bin/csh\n', 0o600);
  file('etc/mail/sendmail.cf', 'cf\n', 0o644, 25, 25);
  file('etc/pkg/FreeBSD.conf', 'FreeBSD: { url: "pkg+https://pkg.FreeBSD.org/$' + '{ABI}/quarterly" }\n', 0o644);
  file('var/log/messages', '', 0o644);
  file('var/db/freebsd-update/README', 'x\n', 0o644);
  file('usr/sbin/iscsictl', 'iscsictl\n', 0o555);
  file('usr/sbin/pkg', 'the pkg bootstrapper\n', 0o555);
  file('sbin/init', 'init\n', 0o555);
  symlinkSync('usr/src/sys', join(root, 'sys'));
  execFileSync('bsdtar', ['-cJf', join(dir, 'base.txz'), '--format', 'pax', '--numeric-owner', '-C', root, '.']);
}

function writeSet(dir: string, set: string, files: Record<string, string>): void {
  const root = join(dir, `${set}-root`);
  const file = treeWriter(root);
  for (const [rel, content] of Object.entries(files)) file(rel, content, 0o555);
  execFileSync('bsdtar', ['-cJf', join(dir, `${set}.txz`), '--format', 'pax', '--numeric-owner', '-C', root, '.']);
}

/** MANIFEST as make-manifest.sh writes it; `listed` may name sets the directory does not serve. */
export function writeManifest(dir: string, sets: string[], listed: Record<string, string> = {}): void {
  const desc: Record<string, string> = { base: 'Base system (MANDATORY)', kernel: 'Kernel (MANDATORY)' };
  const lines = sets.map((s) => {
    const f = join(dir, `${s}.txz`);
    const n = execFileSync('bsdtar', ['-tf', f], { encoding: 'utf8' }).trim().split('\n').length;
    return `${s}.txz\t${sha(f)}\t${n}\t${s}\t"${desc[s] ?? `${s} set`}"\t${s === 'src' ? 'off' : 'on'}`;
  });
  for (const [s, digest] of Object.entries(listed)) lines.push(`${s}.txz\t${digest}\t1\t${s}\t"${s}"\toff`);
  writeFileSync(join(dir, 'MANIFEST'), `${lines.sort().join('\n')}\n`);
}

/** A release directory: base, kernel (and more sets), and its MANIFEST. Returns the directory. */
export function makeRelease(mirror: string, arch: string, release: string, extra: string[] = []): string {
  const dir = join(mirror, arch, release);
  mkdirSync(dir, { recursive: true });
  const major = Number.parseInt(release, 10);
  writeBase(dir, major);
  writeSet(dir, 'kernel', { 'boot/kernel/kernel': `ELF kernel ${release}\n`, 'boot/kernel/nfscl.ko': 'ko\n' });
  for (const e of extra) writeSet(dir, e, { [`usr/${e}/README`]: `${e} of ${release}\n` });
  writeManifest(dir, ['base', 'kernel', ...extra], { tests: 'f'.repeat(64) });
  return dir;
}

/** A re-rolled release: base.txz and the MANIFEST change (what the lock must catch). */
export function rerollBase(dir: string, sets: string[]): void {
  writeBase(dir, Number.parseInt(dir.split('/').pop()!, 10), '-rerolled');
  writeManifest(dir, sets, { tests: 'f'.repeat(64) });
}

export interface Pkg {
  name: string;
  version: string;
  deps?: string[];
  files: Record<string, string>;
  /** Install scripts: kept out of the registered manifest (they did not run at build time). */
  scripts?: Record<string, string>;
}

/** A pkg repository: every package as All/<name>-<version>.pkg and a packagesite.pkg listing them. */
export async function makePkgRepo(repo: string, abi: string, pkgs: Pkg[]): Promise<void> {
  mkdirSync(join(repo, 'All'), { recursive: true });
  const lines: string[] = [];
  for (const p of pkgs) {
    const deps = Object.fromEntries((p.deps ?? []).map((d) => [d, { origin: `misc/${d}`, version: '1' }]));
    const files = Object.fromEntries(
      Object.entries(p.files).map(([f, c]) => [f, `1$${createHash('sha256').update(c).digest('hex')}`]),
    );
    const meta = { name: p.name, origin: `sysutils/${p.name}`, version: p.version, abi, prefix: '/usr/local', deps };
    const path = `All/${p.name}-${p.version}.pkg`;
    await writeTar(
      join(repo, path),
      [
        { name: '+COMPACT_MANIFEST', content: JSON.stringify(meta) },
        { name: '+MANIFEST', content: JSON.stringify({ ...meta, files, scripts: p.scripts ?? {} }) },
        ...Object.entries(p.files).map(([name, content]) => ({ name, content, mode: 0o555 })),
      ],
      'zstd',
    );
    const st = statSync(join(repo, path));
    lines.push(JSON.stringify({ ...meta, path, repopath: path, sum: sha(join(repo, path)), pkgsize: st.size }));
  }
  const work = join(repo, '.site');
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'packagesite.yaml'), `${lines.join('\n')}\n`);
  execFileSync('bsdtar', ['--zstd', '-cf', join(repo, 'packagesite.pkg'), '-C', work, 'packagesite.yaml']);
}

export interface Mirror {
  url: string;
  /** Paths asked for since the last `clear`. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `dir` on 127.0.0.1 (a 404 for anything missing), logging each request's path. */
export async function serveMirror(dir: string): Promise<Mirror> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    requests.push(path);
    const file = join(dir, path);
    if (path.includes('..') || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
