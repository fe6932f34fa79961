import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Mirror, makePkgRepo, makeRelease, rerollBase, serveMirror } from './freebsd-mirror.js';
import { byStep, Project, ROOT, ran, type StepRow } from './helpers.js';
import { playInitdiskless } from './initdiskless.js';

// A local mirror laid out as FreeBSD's (no FreeBSD mirror is reachable from the test machines):
// releases 10.4 and 14.3 with MANIFESTs, and a FreeBSD:14:amd64 pkg repository.
let project: Project;
let work: string;
let mirror: Mirror;
let env: Record<string, string>;
let release14: string;

const lockPath = () => project.path('netboot.lock');
const lock = () => JSON.parse(readFileSync(lockPath(), 'utf8'));
const MANIFEST14 = '/releases/amd64/14.3-RELEASE/MANIFEST';
const CATALOG = '/pkg/FreeBSD:14:amd64/quarterly/packagesite.pkg';

async function cli(args: string[], extra: Record<string, string> = {}) {
  const r = await project.jsonAsync<{ steps: StepRow[] }>(args, { ...env, ...extra });
  return { code: r.code, rows: r.data.steps ?? [], data: r.data as any, stderr: r.stderr };
}

beforeAll(async () => {
  project = new Project('freebsd-release');
  work = mkdtempSync(join(dirname(project.dir), 'netboot-freebsd-mirror-'));
  makeRelease(join(work, 'releases'), 'amd64', '10.4-RELEASE');
  release14 = makeRelease(join(work, 'releases'), 'amd64', '14.3-RELEASE', ['lib32']);
  await makePkgRepo(join(work, 'pkg/FreeBSD:14:amd64/quarterly'), 'FreeBSD:14:amd64', [
    { name: 'ezjail', version: '3.4.2_1', files: { '/usr/local/bin/ezjail-admin': '#!/bin/sh\n# ezjail-admin\n' } },
    {
      name: 'tmux',
      version: '3.5a',
      deps: ['libevent'],
      files: { '/usr/local/bin/tmux': 'tmux\n' },
      scripts: { 'post-install': 'echo would change the root' },
    },
    { name: 'libevent', version: '2.1.12', files: { '/usr/local/lib/libevent.so.7': 'so\n' } },
    { name: 'pkg', version: '2.1.2', files: { '/usr/local/sbin/pkg-static': 'pkg-static\n' } },
    { name: 'zsh', version: '5.9', files: { '/usr/local/bin/zsh': 'zsh\n' } },
  ]);
  mirror = await serveMirror(work);
  env = { FB_MIRROR: `${mirror.url}/releases`, FB_PKG_REPO: `${mirror.url}/pkg/FreeBSD:14:amd64/quarterly` };
});

afterAll(async () => {
  await mirror?.close();
  project?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('FreeBSD sets by release, pinned in netboot.lock', () => {
  it('the first build fetches the MANIFEST and catalog once, verifies sets and packages, writes the lock', async () => {
    const r = await cli(['build', 'jail14']);
    expect(r.code, r.stderr).toBe(0);
    expect(mirror.requests.filter((p) => p === MANIFEST14 || p === CATALOG)).toEqual([MANIFEST14, CATALOG]);
    const l = lock();
    const manifest = readFileSync(join(release14, 'MANIFEST'), 'utf8');
    const rel = l.indexes['freebsd amd64 14.3-RELEASE'];
    expect(rel.url).toBe(`${mirror.url}${MANIFEST14}`);
    // Every digest it trusted, as the MANIFEST says (and only the sets it used).
    expect(Object.keys(rel.entries).sort()).toEqual(['base.txz', 'kernel.txz']);
    for (const [set, e] of Object.entries(rel.entries) as [string, { sha256: string }][])
      expect(manifest).toContain(`${set}\t${e.sha256}\t`);
    // Packages by name, with their dependencies and pkg itself; nothing else of the catalog.
    const pkgs = l.indexes[`pkg ${env.FB_PKG_REPO}`].entries;
    expect(Object.keys(pkgs).sort()).toEqual(['ezjail', 'libevent', 'pkg', 'tmux']);
    expect(pkgs.tmux).toMatchObject({ path: 'All/tmux-3.5a.pkg', version: '3.5a', deps: ['libevent'] });
    // Stable: sorted keys, two-space JSON, a final newline.
    const text = readFileSync(lockPath(), 'utf8');
    expect(text).toBe(`${JSON.stringify(l, Object.keys(flatKeys(l)).sort(), 2)}\n`);
    expect(ran(r.rows)).toContain('fetch-pkg-libevent');
  });

  it('a mirror that cannot be reached: FETCH_FAILED naming the MANIFEST and the setting; nothing locked', async () => {
    const before = readFileSync(lockPath(), 'utf8');
    const r = await project.runAsync(['build', 'jail10'], { ...env, FB_MIRROR10: 'http://127.0.0.1:1/releases' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[FETCH_FAILED]');
    expect(r.stderr).toContain('http://127.0.0.1:1/releases/amd64/10.4-RELEASE/MANIFEST');
    expect(r.stderr).toContain('hosts.jail10.params.sets.mirror');
    expect(readFileSync(lockPath(), 'utf8')).toBe(before);
    // --keep-going: that host stays unpinned (a warning says why), the locked one builds.
    const k = await cli(['build', '--keep-going', 'jail10', 'jail14'], { FB_MIRROR10: 'http://127.0.0.1:1/releases' });
    expect(k.code).toBe(1);
    expect(k.stderr).toContain('warning: host jail10: [FETCH_FAILED]');
    const failed = k.rows.filter((x) => x.outcome === 'failed');
    expect(failed.map((x) => [x.host, x.step, x.error!.code])).toEqual([
      ['jail10', 'fetch-base', 'SOURCE_NOT_PINNED'],
      ['jail10', 'fetch-kernel', 'SOURCE_NOT_PINNED'],
    ]);
    expect(k.rows.filter((x) => x.host === 'jail14').every((x) => x.outcome === 'cached')).toBe(true);
    // Offline, an unlocked set is never looked up: a warning says to build once online.
    const off = await project.runAsync(['build', '--offline', 'jail10'], env);
    expect(off.code).toBe(1);
    expect(off.stderr).toContain('not locked yet; offline, they stay unpinned (build once online)');
    expect(mirror.requests.some((x) => x.includes('10.4-RELEASE'))).toBe(false);
  });

  it('later builds use the lock: a clean cache fetches sets and packages, not the MANIFEST or catalog', async () => {
    const before = readFileSync(lockPath(), 'utf8');
    mirror.requests.length = 0;
    const other = mkdtempSync(join(work, 'cache-'));
    const r = await cli(['build', 'jail14'], { FB_CACHE: other });
    expect(r.code, r.stderr).toBe(0);
    expect(byStep(r.rows)['fetch-base'].outcome).toBe('ran');
    expect(mirror.requests).not.toContain(MANIFEST14);
    expect(mirror.requests).not.toContain(CATALOG);
    expect(mirror.requests).toContain('/releases/amd64/14.3-RELEASE/base.txz');
    expect(readFileSync(lockPath(), 'utf8')).toBe(before);
  });

  it('--frozen holds: a set the lock lacks is refused (exit 2, LOCK_FROZEN) and the lock is unchanged', async () => {
    const before = readFileSync(lockPath(), 'utf8');
    // Global options before the command work too.
    const ok = await cli(['--config', project.path('netboot.config.ts'), 'build', '--frozen', 'jail14']);
    expect(ok.code, ok.stderr).toBe(0);
    const r = await project.runAsync(['build', '--frozen', 'jail14'], { ...env, FB_EXTRA: 'lib32' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('[LOCK_FROZEN]');
    expect(r.stderr).toContain('lib32.txz');
    expect(readFileSync(lockPath(), 'utf8')).toBe(before);
  });

  it('a MANIFEST that disagrees with the lock is refused, naming both digests; a set that does is too', async () => {
    const before = readFileSync(lockPath(), 'utf8');
    const locked = lock().indexes['freebsd amd64 14.3-RELEASE'].entries['base.txz'].sha256;
    const saved = join(work, 'saved-14');
    mkdirSync(saved);
    for (const f of ['base.txz', 'MANIFEST']) copyFileSync(join(release14, f), join(saved, f));
    rerollBase(release14, ['base', 'kernel', 'lib32']);
    try {
      const now = readFileSync(join(release14, 'MANIFEST'), 'utf8').match(/^base\.txz\t([0-9a-f]{64})/m)![1];
      expect(now).not.toBe(locked);
      // Adding lib32 needs the MANIFEST again: it no longer agrees with what was trusted.
      const r = await project.runAsync(['build', 'jail14'], { ...env, FB_EXTRA: 'lib32' });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('[LOCK_MISMATCH]');
      expect(r.stderr).toContain(locked);
      expect(r.stderr).toContain(now);
      expect(readFileSync(lockPath(), 'utf8')).toBe(before);
      // A clean cache with the lock: the re-rolled base.txz itself fails its check against the lock.
      const clean = await cli(['build', 'jail14'], { FB_CACHE: mkdtempSync(join(work, 'cache-')) });
      expect(clean.code).toBe(1);
      expect(byStep(clean.rows)['fetch-base'].error?.code).toBe('DIGEST_MISMATCH');
      expect(byStep(clean.rows)['fetch-base'].error?.message).toContain(locked);
    } finally {
      for (const f of ['base.txz', 'MANIFEST']) copyFileSync(join(saved, f), join(release14, f));
    }
  });

  it('a lock that is not one is a config error naming the file (exit 2), for every command', async () => {
    const before = readFileSync(lockPath(), 'utf8');
    try {
      writeFileSync(lockPath(), before.replace(/"sha256": "[0-9a-f]{64}"/, '"sha256": "not-a-digest"'));
      const r = await project.runAsync(['ls'], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('[LOCK_INVALID]');
      expect(r.stderr).toContain(lockPath());
    } finally {
      writeFileSync(lockPath(), before);
    }
  });

  it('an explicit sha256 stays: a set of one own is used as given, without the MANIFEST', async () => {
    const own = join(work, 'releases/amd64/10.4-RELEASE/base.txz');
    const before = readFileSync(lockPath(), 'utf8');
    mirror.requests.length = 0;
    const mine = await cli(['build', 'jail14'], {
      FB_OWN_BASE: own,
      FB_OWN_BASE_SHA256: createHash('sha256').update(readFileSync(own)).digest('hex'),
    });
    expect(mine.code, mine.stderr).toBe(0);
    expect(byStep(mine.rows)['fetch-base'].outcome).toBe('ran');
    expect(mirror.requests).toEqual([]);
    expect(readFileSync(lockPath(), 'utf8')).toBe(before);
  });

  it('an optional set (lib32) is locked on demand: the lock gains only it', async () => {
    const r = await cli(['build', 'jail14'], { FB_EXTRA: 'lib32' });
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(lock().indexes['freebsd amd64 14.3-RELEASE'].entries).sort()).toEqual([
      'base.txz',
      'kernel.txz',
      'lib32.txz',
    ]);
  });
});

describe('a 14.x-shaped release builds and publishes; rc.initdiskless finds what it needs', () => {
  it('publishes the 14.x root: sets, packages registered at boot, pxeboot under freebsd14/', async () => {
    const r = await cli(['publish', 'jail14', 'jail10']);
    expect(r.code, r.stderr).toBe(0);
    const root = (...p: string[]) => project.path('san/nfs/jail14/root', ...p);
    expect(readFileSync(root('bin/sh'), 'utf8')).toContain('FreeBSD 14 sh');
    expect(readFileSync(root('boot/kernel/kernel'), 'utf8')).toBe('ELF kernel 14.3-RELEASE\n');
    expect(readFileSync(root('usr/local/bin/ezjail-admin'), 'utf8')).toContain('ezjail-admin');
    expect(existsSync(root('usr/local/bin/tmux'))).toBe(true);
    expect(existsSync(root('usr/local/lib/libevent.so.7'))).toBe(true);
    expect(existsSync(root('usr/local/bin/zsh'))).toBe(false);
    expect(readFileSync(project.path('san/tftp/jail14/freebsd14/boot/pxeboot'), 'utf8')).toContain('FreeBSD 14');
    expect(readFileSync(project.path('san/tftp/jail10/freebsd10/boot/pxeboot'), 'utf8')).toContain('FreeBSD 10');
    // Registration: the manifests without their scripts, dependencies first, and the rc.d script.
    const reg = root('var/db/netboot/pkg');
    const order = readFileSync(join(reg, 'ORDER'), 'utf8').trim().split('\n');
    expect(order.indexOf('libevent')).toBeLessThan(order.indexOf('tmux'));
    expect(order.sort()).toEqual(['ezjail', 'libevent', 'pkg', 'tmux']);
    const tmux = JSON.parse(readFileSync(join(reg, 'tmux.manifest'), 'utf8'));
    expect(tmux).toMatchObject({ name: 'tmux', version: '3.5a' });
    expect(tmux.scripts).toBeUndefined();
    expect(Object.keys(tmux.files)).toEqual(['/usr/local/bin/tmux']);
    const script = root('usr/local/etc/rc.d/netboot_pkg');
    expect(statSync(script).mode & 0o777).toBe(0o555);
    expect(spawnSync('sh', ['-n', script]).status).toBe(0);
    expect(readFileSync(script, 'utf8')).toContain('register -M "$netboot_pkg_dir/$n.manifest"');
  });

  it("netboot diff names the pkg archives a build drops, with their versions, from the root's manifests", async () => {
    const fewer = { FB_PACKAGES: 'ezjail' };
    expect((await cli(['build', 'jail14'], fewer)).code).toBe(0);
    const r = await project.jsonAsync<any>(['diff', 'jail14', '--json'], { ...env, ...fewer });
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.packages).toEqual({
      upgraded: [],
      added: [],
      removed: [
        { name: 'libevent', version: expect.any(String) },
        { name: 'tmux', version: '3.5a' },
      ],
    });
    expect(r.data.files.find((f: { target: string }) => f.target === 'nfs').removed.count).toBeGreaterThan(0);
  });

  for (const [host, ip, major] of [
    ['jail10', '10.0.0.10', 10],
    ['jail14', '10.0.0.14', 14],
  ] as const)
    it(`rc.initdiskless's order on the ${major}.x root: /etc, /var from the archives, overrides, /iscsi`, () => {
      const root = project.path(`san/nfs/${host}/root`);
      // A copy of /conf with the templates this config does not use (default, the broadcast
      // address), each overriding the last, to show the order.
      const scratch = mkdtempSync(join(work, `boot-${host}-`));
      const conf = join(scratch, 'conf');
      spawnSync('cp', ['-Rp', join(root, 'conf'), conf]);
      for (const [t, text] of [
        ['default', 'default'],
        ['10.0.0.255', 'broadcast'],
      ]) {
        mkdirSync(join(conf, t, 'etc'), { recursive: true });
        spawnSync('sh', ['-c', `printf '%s\\n' "$1" > "$2"`, 'sh', text, join(conf, t, 'etc/motd')]);
        spawnSync('sh', ['-c', `printf '%s\\n' "$1" > "$2"`, 'sh', text, join(conf, t, 'etc/rc.conf.local')]);
      }
      const boot = playInitdiskless(root, { ip, broadcast: '10.0.0.255', conf, view: join(scratch, 'view') });
      // Directories first (iscsi), then the archives; each memory disk once, sized by md_size.
      expect(boot.memoryDisks).toEqual([
        { mount: '/iscsi', sectors: 2048 },
        { mount: '/etc', sectors: 20480 },
        { mount: '/var', sectors: 65536 },
      ]);
      // base's etc/ and var/ are not copied: their archives stand for them.
      expect(boot.steps).toEqual([
        'copy base/iscsi',
        'extract base/etc.cpio.gz',
        'extract base/var.cpio.gz',
        'copy default/etc',
        'copy 10.0.0.255/etc',
        `copy ${ip}/etc`,
      ]);
      const view = (p: string) => join(boot.view, p);
      // /etc from the archive: the root's own files, modes and owners.
      expect(boot.read('/etc/rc.conf')).toBe(readFileSync(join(root, 'etc/rc.conf'), 'utf8'));
      expect(boot.read('/etc/rc.conf')).toContain('iscsictl_flags="-Aa -w 60"');
      expect(statSync(view('etc/master.passwd')).mode & 0o7777).toBe(0o600);
      expect(statSync(view('etc/mail/sendmail.cf')).uid).toBe(25);
      // The host's overrides, last: its fstab over the image's, its rc.conf.local over the broadcast one.
      expect(boot.read('/etc/fstab')).toContain('/dev/da0\t/iscsi\tufs\trw,late\t0\t0');
      expect(boot.read('/etc/rc.conf.local')).toContain(`# ${host} (${ip}): written by netboot`);
      expect(boot.read('/etc/motd')).toBe('broadcast\n');
      expect(boot.has('/etc/iscsi.conf')).toBe(true);
      expect(boot.has('/etc/diskless_remount')).toBe(false);
      // /var from its archive.
      expect(boot.has('/var/log/messages')).toBe(true);
      if (major === 14) expect(boot.has('/var/db/netboot/pkg/ORDER')).toBe(true);
      // /iscsi: a memory disk of its own, where the iSCSI disk is mounted later (mountlate).
      expect(statSync(view('iscsi')).isDirectory()).toBe(true);
      // Everything else is the NFS root, read-only.
      expect(boot.read('/bin/sh')).toContain(`FreeBSD ${major} sh`);
    });
});

describe("the default config's FreeBSD host", () => {
  it('builds with no edit against a mirror laid out as FreeBSD’s, writing netboot.lock beside the config', async () => {
    // Only a local mirror is reachable here: NETBOOT_FREEBSD_MIRROR points the first fetch at it.
    const dir = project.path('default');
    mkdirSync(dir);
    copyFileSync(join(ROOT, 'netboot.config.ts'), join(dir, 'netboot.config.ts'));
    const r = await project.jsonAsync<{ steps: StepRow[] }>(
      ['--config', join(dir, 'netboot.config.ts'), 'build', 'freebsd10-jailhost'],
      { NETBOOT_FREEBSD_MIRROR: `${mirror.url}/releases` },
    );
    expect(r.code, r.stderr).toBe(0);
    const l = JSON.parse(readFileSync(join(dir, 'netboot.lock'), 'utf8'));
    expect(Object.keys(l.indexes)).toEqual(['freebsd amd64 10.4-RELEASE']);
    expect(Object.keys(l.indexes['freebsd amd64 10.4-RELEASE'].entries).sort()).toEqual(['base.txz', 'kernel.txz']);
  });
});

function flatKeys(v: unknown, out: Record<string, true> = {}): Record<string, true> {
  if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) {
      if (!Array.isArray(v)) out[k] = true;
      flatKeys(x, out);
    }
  return out;
}
