import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byStep, Project, type StepRow } from './helpers.js';

// The lab recipe packs this tree (see test/fixtures/lab/netboot.config.ts):
//   etc/greeting 0644 0:0, etc/shadow 0640 0:42, etc/motd -> greeting, usr/bin/hello 0755, srv/owned 0600 1000:1000
let lab: Project;
let steps: Record<string, StepRow>;
const object = (step: string, output = 'archive') => {
  const d = steps[step].outputs![output].digest;
  return lab.path('.netboot/cache/objects', d.slice(0, 2), d);
};
const sh = (cmd: string, cwd?: string) => execFileSync('bash', ['-c', cmd], { cwd, encoding: 'utf8' });

beforeAll(() => {
  lab = new Project('lab');
  const r = lab.json<{ steps: StepRow[] }>(['build', 'alpha']);
  expect(r.code).toBe(0);
  steps = byStep(r.data.steps);
});
afterAll(() => lab.remove());

describe('newc cpio (initramfs)', () => {
  it('GNU cpio lists every entry with its mode, owner, link target and the clamped mtime', () => {
    const listing = sh(`zcat ${object('newc')} | cpio -itv --quiet --numeric-uid-gid`);
    const rows = listing.trim().split('\n');
    expect(rows.map((l) => l.split(/\s+/).slice(8).join(' '))).toEqual([
      '.',
      'etc',
      'etc/greeting',
      'etc/motd -> greeting',
      'etc/shadow',
      'srv',
      'srv/owned',
      'usr',
      'usr/bin',
      'usr/bin/hello',
    ]);
    expect(listing).toMatch(/-rw-r-----\s+1 0\s+42\s+26 Nov 14\s+2023 etc\/shadow/);
    expect(listing).toMatch(/-rw-------\s+1 1000\s+1000\s+5 Nov 14\s+2023 srv\/owned/);
    expect(listing).toMatch(/-rwxr-xr-x\s+1 0\s+0\s+21 Nov 14\s+2023 usr\/bin\/hello/);
    expect(readFileSync(object('newc')).subarray(4, 8).readUInt32LE()).toBe(0); // gzip header mtime
  });

  it('bsdtar reads the same archive', () => {
    const listing = sh(`bsdtar -tvf ${object('newc')}`);
    expect(listing).toMatch(/-rw-r-----\s+1 0\s+42\s+26 Nov 14\s+2023 etc\/shadow/);
    expect(sh(`zcat ${object('newc')} | head -c 6`)).toBe('070701');
  });
});

describe('odc cpio (FreeBSD /conf archive)', () => {
  it('extracts as rc.initdiskless does it (cd /; tar -xpf), names under etc/, modes and owners kept', () => {
    const root = lab.path('extract-bsdtar');
    mkdirSync(root);
    sh(`bsdtar -xpf ${object('odc')}`, root);
    expect(sh(`zcat ${object('odc')} | head -c 6`)).toBe('070707');
    const shadow = lstatSync(`${root}/etc/etc/shadow`);
    expect([shadow.mode & 0o7777, shadow.uid, shadow.gid]).toEqual([0o640, 0, 42]);
    const owned = lstatSync(`${root}/etc/srv/owned`);
    expect([owned.mode & 0o7777, owned.uid, owned.gid]).toEqual([0o600, 1000, 1000]);
    expect(readlinkSync(`${root}/etc/etc/motd`)).toBe('greeting');
    expect(readFileSync(`${root}/etc/etc/greeting`, 'utf8')).toBe('hello from alpha\n');
    expect(Math.floor(owned.mtimeMs / 1000)).toBe(1700000000);
  });

  it('GNU cpio extracts it too', () => {
    const root = lab.path('extract-cpio');
    mkdirSync(root);
    sh(`zcat ${object('odc')} | cpio -idm --quiet`, root);
    expect(readFileSync(`${root}/etc/usr/bin/hello`, 'utf8')).toBe('#!/bin/sh\necho hello\n');
    expect(lstatSync(`${root}/etc/usr/bin/hello`).mode & 0o777).toBe(0o755);
  });
});

describe('tar', () => {
  it('bsdtar and GNU tar list it with ./ names, owners and modes', () => {
    const bsd = sh(`bsdtar -tvf ${object('tar')}`);
    expect(bsd).toMatch(/-rw-r-----\s+0 0\s+42\s+26 Nov 14\s+2023 \.\/etc\/shadow/);
    const gnu = sh(`tar --numeric-owner -tvf ${object('tar')}`);
    expect(gnu).toMatch(/lrwxrwxrwx 0\/0\s+0 2023-11-14 \d\d:\d\d \.\/etc\/motd -> greeting/);
    expect(gnu).toMatch(/-rw------- 1000\/1000\s+5 2023-11-14 \d\d:\d\d \.\/srv\/owned/);
  });
});

describe('determinism', () => {
  it('two clean builds with different cache directories give bit-identical artifacts', () => {
    const other = new Project('lab');
    try {
      const r = other.json<{ steps: StepRow[] }>(['build', 'alpha'], { LAB_CACHE: other.path('elsewhere/cache') });
      expect(r.code).toBe(0);
      const again = byStep(r.data.steps);
      for (const [name, s] of Object.entries(steps)) {
        if (name === 'upstream') continue; // its params name the project's own upstream file
        expect(again[name].outputs, name).toEqual(s.outputs);
      }
    } finally {
      other.remove();
    }
  });
});
