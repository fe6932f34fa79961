import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyTree } from '../cache/copy.js';
import { mountsUnder } from '../cache/mounts.js';
import { Cache } from '../cache/store.js';
import { digestTree } from '../cache/tree.js';
import { treeChanged } from '../cache/tree-check.js';
import { editOnOverlay } from '../core/tree-edit.js';
import { byStep, Project, type StepRow } from './helpers.js';

// What a chroot step does to a Debian tree, in one script: in-place appends (copy-up), mode and
// owner changes, removals (whiteouts), a directory removed and made again (opaque), a file
// replaced by a directory and back, renames of a file and of a directory, copies, new files and links.
const EDIT = [
  'set -e',
  'echo more >> etc/config',
  'chmod 0600 etc/private',
  'chown 1000:1000 etc/owned',
  'chmod 0700 etc/conf.d',
  'rm etc/gone',
  'rm -rf var/old',
  'rm -rf opt/app && mkdir opt/app && echo new > opt/app/x',
  'rm file-to-dir && mkdir file-to-dir && echo y > file-to-dir/z',
  'rm -rf dir-to-file && echo f > dir-to-file',
  'mv etc/moved etc/moved2',
  'mv usr/share/doc usr/share/doc2',
  'ln -s ../etc/config bin/config-link',
  'mkdir -p new/deep && echo n > new/deep/n && chmod 0640 new/deep/n',
  'sed -i s/1/2/ etc/conf.d/one',
  'cp -p etc/config etc/config.orig',
  'cp -p etc/subgid etc/subgid-',
  'echo replaced > bin/perl.new && mv bin/perl.new bin/perl',
].join('\n');

function makeSource(dir: string): void {
  for (const d of ['etc/conf.d', 'var/old/sub', 'opt/app/lib', 'dir-to-file', 'usr/share/doc/pkg', 'bin', 'lib'])
    mkdirSync(join(dir, d), { recursive: true });
  const put = (p: string, text: string, mode = 0o644) => {
    writeFileSync(join(dir, p), text);
    chmodSync(join(dir, p), mode);
  };
  put('etc/config', 'a=1\n');
  put('etc/private', 'secret\n');
  put('etc/owned', 'mine\n');
  // Empty files of several modes: a copy of one takes the mode of the one it copied.
  put('etc/subgid', '');
  put('etc/empty-secret', '', 0o600);
  put('etc/conf.d/one', '1\n');
  put('etc/gone', 'bye\n');
  put('etc/moved', 'moving\n', 0o600);
  put('var/old/sub/f', 'old\n');
  put('opt/app/lib/a.so', 'lib\n', 0o755);
  put('opt/app/keep', 'hidden after the rm -rf\n');
  put('lib/untouched.so', 'elf\n', 0o755);
  put('file-to-dir', 'file\n');
  put('dir-to-file/inner', 'inner\n');
  put('usr/share/doc/pkg/README', 'doc\n');
  put('bin/perl', '#!perl\n', 0o755);
  linkSync(join(dir, 'bin/perl'), join(dir, 'bin/perl5'));
  symlinkSync('perl', join(dir, 'bin/perl-link'));
}

describe('a step edits its input tree on an overlay (ctx.editTree)', () => {
  let work: string;
  let cache: Cache;
  beforeEach(async () => {
    work = mkdtempSync(join(tmpdir(), 'netboot-tree-edit-'));
    cache = new Cache(join(work, 'cache'), () => {});
    await cache.init();
  });
  afterEach(() => {
    for (const m of mountsUnder(work)) execFileSync('umount', ['-l', m]);
    rmSync(work, { recursive: true, force: true });
  });

  const stored = async () => {
    const src = join(work, 'src');
    makeSource(src);
    return cache.ingestTree(src);
  };

  it('stores the tree a copy edited the same way would be, reading only what changed', async () => {
    const input = await stored();
    const entries = await cache.manifest(input.digest);
    const lower = cache.treePath(input.digest);

    // What a step got before: a private copy (cp -a, true modes back), edited, hashed whole.
    const copy = join(work, 'copy');
    await copyTree(lower, copy, undefined, entries);
    execFileSync('sh', ['-c', EDIT], { cwd: copy });
    const expected = await digestTree(copy);

    const dest = join(work, 'out');
    mkdirSync(dest);
    const derived = await editOnOverlay(
      lower,
      entries,
      join(work, 'edit'),
      dest,
      async (root) => void execFileSync('sh', ['-c', EDIT], { cwd: root }),
      async () => {},
    );
    expect(derived.fresh.has('etc/config')).toBe(true);
    expect(derived.fresh.has('lib/untouched.so')).toBe(false);
    const out = await cache.ingestDerivedTree(dest, derived, input.digest);
    expect(out.digest).toBe(expected.digest);

    // The stored result is what its manifest says, file by file and by its stat rows.
    const tree = cache.treePath(out.digest);
    const manifest = await cache.manifest(out.digest);
    expect(await treeChanged(tree, manifest, cache.treeStatPath(out.digest))).toBeUndefined();
    expect(await treeChanged(tree, manifest, '', { hash: true })).toBeUndefined();
    // The appended file has its true mode back; the chmod'ed one keeps the step's.
    expect(manifest.find((e) => e.path === 'etc/config')?.mode).toBe(0o644);
    expect(manifest.find((e) => e.path === 'etc/private')?.mode).toBe(0o600);
    expect(readFileSync(join(tree, 'etc/config'), 'utf8')).toBe('a=1\nmore\n');
    expect(manifest.some((e) => e.path === 'opt/app/keep')).toBe(false);
    // Unchanged files are the input's own (read-only) inodes; nothing of overlayfs is carried out.
    expect(lstatSync(join(tree, 'lib/untouched.so')).ino).toBe(lstatSync(join(lower, 'lib/untouched.so')).ino);
    const attrs = execFileSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '^trusted\\.overlay\\.', '.'], {
      cwd: tree,
      encoding: 'utf8',
    });
    expect(attrs).toBe('');

    // The input was never written, and no mount is left behind.
    expect(await treeChanged(lower, entries, cache.treeStatPath(input.digest), { hash: true })).toBeUndefined();
    expect(mountsUnder(work)).toEqual([]);
  });

  it('unmounts when the edit fails, and the failure is the edit’s own', async () => {
    const input = await stored();
    const entries = await cache.manifest(input.digest);
    const dest = join(work, 'out');
    mkdirSync(dest);
    const edit = editOnOverlay(
      cache.treePath(input.digest),
      entries,
      join(work, 'edit'),
      dest,
      async (root) => {
        writeFileSync(join(root, 'etc/config'), 'half\n');
        throw new Error('apt: E: Unable to locate package nosuch');
      },
      async () => {},
    );
    await expect(edit).rejects.toThrow(/nosuch/);
    expect(mountsUnder(work)).toEqual([]);
    expect(readFileSync(join(cache.treePath(input.digest), 'etc/config'), 'utf8')).toBe('a=1\n');
  });
});

describe('a plugin edits its input with ctx.editTree', () => {
  let proj: Project;
  beforeEach(() => {
    proj = new Project('tree-edit');
  });
  afterEach(() => proj.remove());

  const build = (cache: string) => {
    const r = proj.json<{ ok: boolean; steps: StepRow[] }>(['build', 'edit'], { EDIT_CACHE: cache });
    expect(r.code, r.stderr).toBe(0);
    const steps = byStep(r.data.steps);
    const rec = JSON.parse(
      readFileSync(proj.path(cache, 'actions', steps.overlay.key!.slice(0, 2), `${steps.overlay.key}.json`), 'utf8'),
    );
    const log = readFileSync(proj.path(cache, 'objects', rec.log.slice(0, 2), rec.log), 'utf8');
    return { overlay: steps.overlay.outputs!.tree.digest, copy: steps.copy.outputs!.tree.digest, log };
  };

  it('gets the tree a copy edited by the same script gets, on an overlay, or on a copy where none mounts', () => {
    const a = build('.netboot/cache');
    expect(a.log).toMatch(/^netboot: edited input tree "tree" on an overlay: \d+ entries changed/m);
    expect(a.overlay).toBe(a.copy);
    // overlayfs takes no comma in a layer's path: the same step edits a copy, with the same result.
    const b = build('.netboot/ca,che');
    expect(b.log).toMatch(/^netboot: no overlay for input tree "tree" \(.*\): editing a copy$/m);
    expect(b.overlay).toBe(a.overlay);
    expect(mountsUnder(proj.dir)).toEqual([]);
  });
});
