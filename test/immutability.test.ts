import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  truncateSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { byStep, Project, ran, type StepRow } from './helpers.js';
import { checkLive } from './release-check.js';

// The lab recipe publishes a tftp tree plus a pxelinux entry (a file object), an nfs tree, a
// writable nbd disk and a tar (a file object) on conf. Both the tree files and the objects are
// hard-linked into the release: they are the cache's own inodes.
let lab: Project;
beforeEach(() => {
  lab = new Project('lab');
});
afterEach(() => lab.remove());

const ENTRY = 'pxelinux.cfg/01-52-54-00-00-00-01';
const build = (args: string[] = [], env: NodeJS.ProcessEnv = {}) => {
  const r = lab.json<{ ok: boolean; steps: StepRow[] }>(['build', 'alpha', ...args], env);
  return { code: r.code, stderr: r.stderr, steps: r.data.steps };
};
const publish = (args: string[] = [], env: NodeJS.ProcessEnv = {}) => {
  const r = lab.json<{
    published: { changed: boolean; id?: string; repaired: { target: string; path: string }[] }[];
    steps: StepRow[];
  }>(['publish', 'alpha', ...args], env);
  return { code: r.code, stderr: r.stderr, pub: r.data.published?.[0], steps: r.data.steps };
};
const live = (target: string, ...p: string[]) => join(realpathSync(lab.path('san', target, 'alpha')), ...p);
const quarantined = (cache = '.netboot/cache') => readdirSync(lab.path(cache, 'quarantine'));
const objectOf = (s: StepRow, out: string) => {
  const d = s.outputs![out].digest;
  return lab.path('.netboot/cache/objects', d.slice(0, 2), d);
};
/** Overwrites one byte in place, keeping the size (and, if asked, the mtime): bit rot, or a careful vandal. */
function flipByte(path: string, keepMtime: boolean) {
  const ref = lab.path('mtime-ref');
  execFileSync('touch', ['-r', path, ref]); // nanoseconds, which utimes from JS Dates would lose
  const at = Math.min(10, statSync(path).size - 1);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from([readFileSync(path)[at] ^ 0xff]), 0, 1, at);
  closeSync(fd);
  if (keepMtime) execFileSync('touch', ['-r', ref, path]);
}
/** Every regular file under a directory, with its stat. */
function files(dir: string): { path: string; mode: number; nlink: number }[] {
  const out: { path: string; mode: number; nlink: number }[] = [];
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const st = lstatSync(join(dir, name));
    if (st.isFile()) out.push({ path: name, mode: st.mode & 0o7777, nlink: st.nlink });
  }
  return out;
}

describe('published content is immutable in practice', () => {
  it(
    'a published file that shares its inode with the cache has no write bits, and the release manifest ' + 'says so',
    () => {
      expect(publish().code).toBe(0);
      for (const t of ['tftp', 'nfs', 'conf']) {
        const shared = files(live(t)).filter((f) => f.nlink > 1 && f.path !== '.netboot-release.json');
        expect(shared.length).toBeGreaterThan(0);
        for (const f of shared) expect(f.mode & 0o222, `${t}:${f.path}`).toBe(0);
        // The manifest records what is there: checkLive compares every entry's mode and content.
        expect(checkLive(lab.path('san', t), 'alpha')).toEqual([]);
      }
      expect(lstatSync(live('tftp', ENTRY)).mode & 0o7777).toBe(0o444);
      const tree = byStep(build().steps).tree.outputs!.tree.digest;
      for (const f of files(lab.path('.netboot/cache/trees', tree))) expect(f.mode & 0o222, f.path).toBe(0);
    },
  );

  it(
    'the true modes live in the manifest: a private copy and an archive of a read-only cache tree get ' + 'them back',
    () => {
      const first = byStep(build().steps);
      // `counted` copies its input with ctx.copyTree: the same manifest, so the same digest.
      expect(first.counted.outputs!.tree.digest).toBe(first.tree.outputs!.tree.digest);
      const listing = execFileSync('bsdtar', ['-tvf', objectOf(first.tar, 'archive')], { encoding: 'utf8' });
      expect(listing).toMatch(/-rwxr-xr-x .*\.\/usr\/bin\/hello/);
      expect(listing).toMatch(/-rw-r----- .*\.\/etc\/shadow/);
      // A writable tree is published as a private copy, with the manifest's modes.
      expect(publish([], { LAB_RW_ROOT: '1' }).code).toBe(0);
      const root = live('nfs', 'root');
      const modes = files(root).filter((f) => f.path !== '.netboot-release.json');
      expect(modes.every((f) => f.nlink === 1)).toBe(true);
      expect(modes.some((f) => f.mode === 0o644)).toBe(true);
    },
  );

  it("a step's log says where its time went: the input tree's copy, the input check, the outputs' ingest", () => {
    const counted = byStep(build().steps).counted;
    const rec = JSON.parse(
      readFileSync(lab.path('.netboot/cache/actions', counted.key!.slice(0, 2), `${counted.key}.json`), 'utf8'),
    ) as { log: string };
    const log = readFileSync(lab.path('.netboot/cache/objects', rec.log.slice(0, 2), rec.log), 'utf8');
    expect(log).toMatch(/^netboot: copied input tree "tree" \(\d+ files\) in \d+\.\d\d s$/m);
    expect(log).toMatch(/^netboot: inputs checked unchanged in \d+\.\d\d s$/m);
    expect(log).toMatch(/^netboot: outputs hashed and stored in \d+\.\d\d s$/m);
  });
});

describe("a hit's outputs are checked", () => {
  it(
    'an edit to a live TFTP file makes the next build run the steps again, and publish repairs the live ' + 'release',
    () => {
      expect(publish().code).toBe(0);
      const good = readFileSync(live('tftp', ENTRY), 'utf8');
      // Root ignores the missing write bits: this is what an editor forced with :w! does to a hard link.
      appendFileSync(live('tftp', ENTRY), 'APPEND init=/bin/evil\n');
      appendFileSync(live('tftp', 'upstream'), 'tampered\n');

      const verify = lab.json<{ releases: { id: string; damaged: Record<string, { path: string }[]> }[] }>([
        'releases',
        'alpha',
        '--verify',
      ]);
      expect(verify.code).toBe(1);
      expect(verify.stderr).toContain('[RELEASE_DAMAGED]');
      expect(verify.data.releases[0].damaged.tftp.map((d) => d.path)).toEqual([
        'pxelinux.cfg/01-52-54-00-00-00-01',
        'upstream',
      ]);

      const b = build();
      expect(b.code).toBe(0);
      expect(ran(b.steps)).toEqual(['entry', 'tftp']);
      for (const s of ['entry', 'tftp'])
        expect(byStep(b.steps)[s].reasons.join(' ')).toMatch(/cached output .* was damaged/);
      expect(quarantined().length).toBeGreaterThanOrEqual(2);

      const p = publish();
      expect(p.code, p.stderr).toBe(0);
      expect(p.pub).toMatchObject({ changed: true, id: '000002' });
      expect(p.pub!.repaired.map((d) => `${d.target}:${d.path}`).sort()).toEqual([`tftp:${ENTRY}`, 'tftp:upstream']);
      expect(readFileSync(live('tftp', ENTRY), 'utf8')).toBe(good);
      expect(readFileSync(lab.path('san/tftp', ENTRY), 'utf8')).toBe(good);
      expect(checkLive(lab.path('san/tftp'), 'alpha')).toEqual([]);
      const after = lab.json<{ releases: { id: string; damaged: Record<string, unknown[]> }[] }>([
        'releases',
        'alpha',
        '--verify',
      ]);
      expect(after.data.releases.find((r) => r.id === '000002')!.damaged.tftp).toEqual([]);
      expect(publish().pub).toMatchObject({ changed: false });
    },
  );

  it(
    'a flipped byte in a published cache object is a re-run; with its mtime put back, build --verify ' +
      'still finds it',
    () => {
      const first = byStep(build().steps);
      flipByte(objectOf(first.tar, 'archive'), false);
      const again = build();
      expect(ran(again.steps)).toEqual(['tar']);
      expect(byStep(again.steps).tar.outputs).toEqual(first.tar.outputs);

      flipByte(objectOf(first.tar, 'archive'), true);
      expect(ran(build().steps)).toEqual([]); // a stat check cannot see it: that is what --verify is for
      const verified = build(['--verify']);
      expect(ran(verified.steps)).toEqual(['tar']);
      expect(byStep(verified.steps).tar.outputs).toEqual(first.tar.outputs);
    },
  );

  it('publish --verify re-hashes the live release: a byte changed with its mtime kept is republished', () => {
    expect(publish().code).toBe(0);
    flipByte(live('nfs', 'VERSION'), true);
    expect(publish().pub).toMatchObject({ changed: false });
    const p = publish(['--verify']);
    expect(p.pub).toMatchObject({ changed: true });
    expect(p.pub!.repaired.map((d) => `${d.target}:${d.path}`)).toEqual(['nfs:VERSION']);
    expect(readFileSync(live('nfs', 'VERSION'), 'utf8')).toBe('v1\n');
    expect(checkLive(lab.path('san/nfs'), 'alpha')).toEqual([]);
  });

  it('a truncated tree manifest is a miss that rebuilds the tree, never an internal error', () => {
    const first = byStep(build().steps);
    for (const keepMtime of [false, true]) {
      const m = objectOf(first.tftp, 'tree');
      const st = statSync(m);
      truncateSync(m, 20);
      if (keepMtime) utimesSync(m, st.atime, st.mtime);
      const p = publish();
      expect(p.code, p.stderr).toBe(0);
      expect(p.stderr).not.toContain('internal error');
      expect(byStep(p.steps).tftp.outcome).toBe('ran');
      expect(byStep(p.steps).tftp.outputs).toEqual(first.tftp.outputs);
    }
  });

  it(
    'a corrupt manifest that a step reads is CACHE_ENTRY_CORRUPT naming the object, and the next build ' +
      'rebuilds it',
    () => {
      const first = byStep(build().steps);
      // Not a published tree, and its mtime put back: only reading it tells.
      const m = objectOf(first.tree, 'tree');
      execFileSync('touch', ['-r', m, lab.path('mtime-ref')]);
      truncateSync(m, 20);
      execFileSync('touch', ['-r', lab.path('mtime-ref'), m]);
      const bad = build([], { LAB_COUNTED_VERSION: '2' });
      expect(bad.code).toBe(1);
      expect(byStep(bad.steps).counted.error).toMatchObject({ code: 'CACHE_ENTRY_CORRUPT' });
      expect(byStep(bad.steps).counted.error!.message).toContain(m);
      const again = build([], { LAB_COUNTED_VERSION: '2' });
      expect(again.code, again.stderr).toBe(0);
      expect(ran(again.steps)).toContain('tree');
      expect(byStep(again.steps).tree.outputs).toEqual(first.tree.outputs);
    },
  );
});

describe('a copied cache', () => {
  it('cp -a of a cache serves its hits, and a build with a changed param neither fails nor quarantines', () => {
    const first = build();
    expect(first.code).toBe(0);
    execFileSync('cp', ['-a', lab.path('.netboot/cache'), lab.path('.netboot/copy')]);
    const env = { LAB_CACHE: '.netboot/copy' };
    expect(ran(build([], env).steps)).toEqual([]);
    const changed = build([], { ...env, LAB_GREETING: 'restored from a backup' });
    expect(changed.code, changed.stderr).toBe(0);
    expect(ran(changed.steps)).toEqual(['counted', 'newc', 'odc', 'tar', 'tftp', 'tree']);
    expect(quarantined('.netboot/copy')).toEqual([]);
    expect(lab.json(['cache', 'verify'], env).code).toBe(0);
  });
});
