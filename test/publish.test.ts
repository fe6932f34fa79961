import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TARGET_NAMES } from '../core/targets.js';
import { exitOf, Project, type StepRow } from './helpers.js';
import { checkLive } from './release-check.js';

// The lab recipe publishes: tftp (a tree + a pxelinux entry, with a stable link under
// pxelinux.cfg/), nfs (a tree of LAB_BULK files naming LAB_VERSION), nbd (a writable 64 MiB
// sparse disk.img) and conf (a tar).
let lab: Project;
beforeEach(() => {
  lab = new Project('lab');
});
afterEach(() => lab.remove());

interface Published {
  host: string;
  changed: boolean;
  id?: string;
  targets: {
    target: string;
    id: string;
    changed: boolean;
    stage?: { bytesWritten: number; linked: number; copied: number };
  }[];
}
const publish = (env: NodeJS.ProcessEnv = {}, extra: string[] = []) => {
  const r = lab.json<{ ok: boolean; published: Published[]; steps: StepRow[] }>(['publish', 'alpha', ...extra], env);
  return { code: r.code, stderr: r.stderr, pub: r.data.published?.[0] };
};
const live = (target: string) => realpathSync(lab.path('san', target, 'alpha'));
const liveId = (target: string) =>
  readlinkSync(lab.path('san', target, 'alpha'))
    .split('/')
    .pop();

describe('publish', () => {
  it('stages a whole release, switches each target with one symlink, and does nothing when unchanged', () => {
    const first = publish();
    expect(first.code).toBe(0);
    expect(first.pub).toMatchObject({ changed: true, id: '000001' });
    for (const t of TARGET_NAMES) {
      expect(readlinkSync(lab.path('san', t, 'alpha'))).toBe('.releases/alpha/000001');
      expect(checkLive(lab.path('san', t), 'alpha')).toEqual([]);
    }
    expect(readFileSync(lab.path('san/tftp/pxelinux.cfg/01-52-54-00-00-00-01'), 'utf8')).toContain(
      'KERNEL alpha/initrd.img',
    );
    expect(readFileSync(join(live('nfs'), 'VERSION'), 'utf8')).toBe('v1\n');
    const again = publish();
    expect(again.pub).toMatchObject({ changed: false });
    expect(readdirSync(lab.path('san/nfs/.releases/alpha')).filter((n) => /^\d+$/.test(n))).toEqual(['000001']);
  });

  it('republishing after a small change shares every unchanged file with the last release', () => {
    publish({ LAB_BULK: '500' });
    const before = live('nfs');
    const r = publish({ LAB_BULK: '500', LAB_VERSION: 'v1', LAB_GREETING: 'changed' });
    // greeting only reaches tftp and conf: nfs and nbd are not restaged at all
    expect(
      r
        .pub!.targets.filter((t) => t.changed)
        .map((t) => t.target)
        .sort(),
    ).toEqual(['conf', 'tftp']);
    expect(live('nfs')).toBe(before);
    const tftpOld = lab.path('san/tftp/.releases/alpha/000001/pxelinux.cfg/01-52-54-00-00-00-01');
    const tftpNew = lab.path('san/tftp/.releases/alpha/000002/pxelinux.cfg/01-52-54-00-00-00-01');
    expect(statSync(tftpNew).ino).toBe(statSync(tftpOld).ino);
    expect(r.pub!.targets.find((t) => t.target === 'tftp')!.stage!.bytesWritten).toBe(0);
  });

  it('a tree that was published (hardlinked into a release) is still a clean input for later steps', () => {
    publish();
    const r = lab.json<{ steps: StepRow[] }>(['build', 'alpha'], { LAB_ROOT_TAR: '1' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.data.steps.find((s) => s.step === 'root-tar')!.outcome).toBe('ran');
  });

  it('a writable disk never shares an inode with the cache, and an unchanged one keeps what the host wrote', () => {
    const first = publish();
    const disk = join(live('nbd'), 'disk.img');
    const cacheObj =
      first.pub &&
      lab.json<{ steps: StepRow[] }>(['build', 'alpha']).data.steps.find((s) => s.step === 'disk')!.outputs!.image
        .digest;
    const obj = lab.path('.netboot/cache/objects', cacheObj!.slice(0, 2), cacheObj!);
    expect(statSync(disk).ino).not.toBe(statSync(obj).ino);
    expect(statSync(disk).blocks * 512).toBeLessThan(1 << 20); // sparse: 64 MiB apparent
    appendFileSync(disk, 'the host wrote this');
    // A change elsewhere: the disk's source is unchanged, so the live disk (with the write) stays.
    expect(publish({ LAB_GREETING: 'other' }).code).toBe(0);
    expect(readFileSync(join(live('nbd'), 'disk.img'), 'utf8')).toContain('the host wrote this');
  });

  it('a new disk for a host that wrote to its disk needs --fresh-disk; the written disk is kept', () => {
    publish();
    const written = realpathSync(join(live('nbd'), 'disk.img'));
    appendFileSync(written, 'precious');
    const refused = publish({ LAB_DISK_VERSION: 'v2' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[DISK_WRITTEN]');
    expect(liveId('nbd')).toBe('000001');
    const fresh = publish({ LAB_DISK_VERSION: 'v2' }, ['--fresh-disk']);
    expect(fresh.code).toBe(0);
    expect(fresh.stderr).toContain('the host wrote to nbd:disk.img since release 000001');
    expect(readFileSync(join(live('nbd'), 'disk.img'), 'utf8')).toMatch(/^disk v2/);
    // Pruning everything it may (keep 1) still keeps the written disk.
    for (let i = 3; i < 6; i++) publish({ LAB_DISK_VERSION: `v${i}`, LAB_KEEP: '1' });
    expect(lab.run(['gc'], { LAB_KEEP: '1', LAB_DISK_VERSION: 'v5' }).code).toBe(0);
    expect(readFileSync(written, 'utf8')).toContain('precious');
    expect(lab.run(['gc', '--drop-written-disks'], { LAB_KEEP: '1', LAB_DISK_VERSION: 'v5' }).code).toBe(0);
    expect(existsSync(written)).toBe(false);
  });

  it('a writable root tree is a private copy; a write anywhere inside it counts as written', () => {
    const env = { LAB_RW_ROOT: '1' };
    expect(publish(env).code).toBe(0);
    const root = join(live('nfs'), 'root');
    expect(lstatSync(root).isSymbolicLink()).toBe(true);
    const cacheCopy = execFileSync('bash', ['-c', `find ${lab.path('.netboot/cache/trees')} -name f7 | head -1`], {
      encoding: 'utf8',
    }).trim();
    expect(statSync(join(root, 'd0/f7')).ino).not.toBe(statSync(cacheCopy).ino);
    expect(publish({ ...env, LAB_GREETING: 'unrelated' }).code).toBe(0);
    appendFileSync(join(root, 'd0/f7'), 'host state');
    const refused = publish({ ...env, LAB_VERSION: 'v2' });
    expect(refused.stderr).toContain('[DISK_WRITTEN]');
    expect(publish({ ...env, LAB_VERSION: 'v2' }, ['--fresh-disk']).code).toBe(0);
    expect(readFileSync(join(live('nfs'), 'root/VERSION'), 'utf8')).toBe('v2\n');
  });

  it('rollback switches back atomically; releases lists what is live', () => {
    publish();
    publish({ LAB_VERSION: 'v2' });
    expect(readFileSync(join(live('nfs'), 'VERSION'), 'utf8')).toBe('v2\n');
    const listing = lab.json<{ releases: { id: string; live: string[] }[] }>(['releases', 'alpha']);
    expect(listing.data.releases.map((r) => [r.id, r.live.sort()])).toEqual([
      ['000001', ['conf', 'tftp']],
      ['000002', ['nbd', 'nfs']],
    ]);
    expect(lab.run(['rollback', 'alpha']).code).toBe(0);
    expect(readFileSync(join(live('nfs'), 'VERSION'), 'utf8')).toBe('v1\n');
    expect(liveId('nbd')).toBe('000001');
    expect(lab.run(['rollback', 'alpha', '2']).code).toBe(0);
    expect(readFileSync(join(live('nfs'), 'VERSION'), 'utf8')).toBe('v2\n');
    const bad = lab.run(['rollback', 'alpha', '9']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('[UNKNOWN_RELEASE]');
  });

  it('keeps san.keep releases, and never the live one or the one before it', () => {
    for (const v of ['v1', 'v2', 'v3', 'v4']) publish({ LAB_VERSION: v, LAB_KEEP: '1' });
    const ids = () => readdirSync(lab.path('san/nfs/.releases/alpha')).filter((n) => /^\d+$/.test(n));
    expect(ids()).toEqual(['000003', '000004']);
    expect(lab.run(['rollback', 'alpha'], { LAB_KEEP: '1' }).code).toBe(0);
    publish({ LAB_VERSION: 'v5', LAB_KEEP: '1' });
    // live: 5; live before it: 3 (the rollback target)
    expect(ids()).toEqual(['000003', '000005']);
    expect(lab.run(['gc', '--keep-days', '0'], { LAB_VERSION: 'v5', LAB_KEEP: '1' }).code).toBe(0);
    expect(lab.run(['rollback', 'alpha', '3'], { LAB_KEEP: '1' }).code).toBe(0);
    expect(checkLive(lab.path('san/nfs'), 'alpha')).toEqual([]);
  });

  it('runs reload hooks after the switch; a failing hook is reported and the release stays live', () => {
    const marker = lab.path('reloaded');
    expect(publish({ LAB_RELOAD: `echo "$NETBOOT_HOST $NETBOOT_RELEASE $NETBOOT_TARGET" >> ${marker}` }).code).toBe(0);
    expect(readFileSync(marker, 'utf8')).toBe('alpha 000001 conf\n');
    const r = lab.run(['publish', 'alpha'], {
      LAB_GREETING: 'x',
      LAB_RELOAD: 'echo cannot reach nbd-server >&2; exit 4',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[RELOAD_FAILED]: host alpha: release 000002 is live, but a reload hook failed');
    expect(r.stderr).toContain('exited with code 4: cannot reach nbd-server');
    expect(liveId('conf')).toBe('000002');
  });
});

describe('publish safety', () => {
  it('a full target is refused before anything is written, the live release intact', () => {
    const small = lab.path('small');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    try {
      expect(publish({ LAB_NFS: small, LAB_BULK: '20' }).code).toBe(0);
      const r = lab.run(['publish', 'alpha'], { LAB_NFS: small, LAB_BULK: '2000', LAB_VERSION: 'big' });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          String.raw`\[PUBLISH_NO_SPACE\]: host alpha: not enough space at .*small ` +
            String.raw`to stage the release: needs [\d.]+ MiB, [\d.]+ MiB free`,
        ),
      );
      expect(readFileSync(join(realpathSync(join(small, 'alpha')), 'VERSION'), 'utf8')).toBe('v1\n');
      expect(readdirSync(join(small, '.releases/alpha')).sort()).toEqual(['000001', 'history.json']);
    } finally {
      execFileSync('umount', [small]);
    }
  });

  it('SIGKILL at 50 random moments: the live path is always a whole release, and the next publish works', async () => {
    const env = (v: string) => ({ LAB_BULK: '1500', LAB_VERSION: v });
    // Both versions built first, so the kills land in publishing rather than building.
    expect(publish(env('a')).code).toBe(0);
    expect(publish(env('b')).code).toBe(0);
    const t0 = Date.now();
    expect(publish(env('a')).code).toBe(0);
    const span = Date.now() - t0;
    for (let i = 0; i < 50; i++) {
      const child = lab.spawn(['publish', 'alpha'], env(i % 2 ? 'a' : 'b'));
      const done = exitOf(child);
      await sleep(Math.random() * span);
      child.kill('SIGKILL');
      await done;
      for (const t of TARGET_NAMES) expect(checkLive(lab.path('san', t), 'alpha'), `kill ${i}, ${t}`).toEqual([]);
    }
    expect(publish(env('c')).code).toBe(0);
    expect(readFileSync(join(live('nfs'), 'VERSION'), 'utf8')).toBe('c\n');
    expect(readdirSync(lab.path('san/nfs/.releases/alpha')).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('a reader walking the live tree during 20 publishes never sees a mix of releases', async () => {
    const env = (v: string) => ({ LAB_BULK: '300', LAB_VERSION: v });
    publish(env('a'));
    publish(env('b'));
    const script = `
      const fs = require('node:fs'), path = require('node:path');
      const root = ${JSON.stringify(lab.path('san/nfs/alpha'))};
      let walks = 0, mixed = 0;
      const stop = Date.now() + 60000;
      while (!fs.existsSync(${JSON.stringify(lab.path('stop-reader'))}) && Date.now() < stop) {
        // Like a client that opened the live path: resolve it once, then read everything below.
        const dir = fs.realpathSync(root);
        const want = fs.readFileSync(path.join(dir, 'VERSION'), 'utf8').trim();
        for (const d of fs.readdirSync(dir)) {
          if (!d.startsWith('d')) continue;
          for (const f of fs.readdirSync(path.join(dir, d)))
            if (!fs.readFileSync(path.join(dir, d, f), 'utf8').startsWith(want + ' ')) mixed++;
        }
        walks++;
      }
      console.log(JSON.stringify({ walks, mixed }));`;
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const done = exitOf(child);
    for (let i = 0; i < 20; i++) expect(publish(env(i % 2 ? 'a' : 'b')).code).toBe(0);
    execFileSync('touch', [lab.path('stop-reader')]);
    const r = await done;
    const { walks, mixed } = JSON.parse(r.stdout);
    expect(mixed).toBe(0);
    expect(walks).toBeGreaterThan(5);
  });
});

describe('release check helper', () => {
  it('notices a damaged live release', () => {
    publish();
    expect(checkLive(lab.path('san/nfs'), 'alpha')).toEqual([]);
    const f = join(live('nfs'), 'd0/f1');
    execFileSync('chmod', ['u+w', f]);
    appendFileSync(f, 'x');
    execFileSync('chmod', ['a-w', f]); // shared with the cache, it is published read-only
    expect(checkLive(lab.path('san/nfs'), 'alpha')).toEqual(['d0/f1: content differs']);
    expect(lstatSync(lab.path('san/nfs/alpha')).isSymbolicLink()).toBe(true);
  });
});
