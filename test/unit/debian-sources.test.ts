import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initrdHas } from '../../plugins/debian/kernel.js';
import { parseDpkgStatus } from '../../plugins/debian/package-manifest.js';
import { debianSources, presentSources, renderSources } from '../../plugins/debian/sources.js';
import { ROOT } from '../helpers.js';

const defaults = {
  mirror: 'http://deb.debian.org/debian',
  securityMirror: 'http://deb.debian.org/debian-security',
  components: ['main'],
  frozen: false,
};

describe('Debian sources', () => {
  it('bullseye: one-line sources.list with the suite, -updates and -security', () => {
    expect(renderSources('bullseye', debianSources({ ...defaults, suite: 'bullseye' }).all)).toEqual({
      path: 'etc/apt/sources.list',
      text:
        'deb http://deb.debian.org/debian bullseye main\n' +
        'deb http://deb.debian.org/debian bullseye-updates main\n' +
        'deb http://deb.debian.org/debian-security bullseye-security main\n',
    });
  });

  it('bookworm and later: deb822 debian.sources, with the components given', () => {
    const s = debianSources({ ...defaults, suite: 'trixie', components: ['main', 'non-free-firmware'] });
    expect(renderSources('trixie', s.all)).toEqual({
      path: 'etc/apt/sources.list.d/debian.sources',
      text: [
        'Types: deb',
        'URIs: http://deb.debian.org/debian',
        'Suites: trixie trixie-updates',
        'Components: main non-free-firmware',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
        'Types: deb',
        'URIs: http://deb.debian.org/debian-security',
        'Suites: trixie-security',
        'Components: main non-free-firmware',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
      ].join('\n'),
    });
  });

  it('a frozen image reads the main suite only; the build reads it alone before the upgrade step', () => {
    const frozen = debianSources({ ...defaults, suite: 'bookworm', frozen: true });
    expect(frozen.all).toEqual(frozen.main);
    expect(frozen.main.map((x) => x.suites)).toEqual([['bookworm']]);
  });

  it('a local unsigned archive is trusted explicitly, in either format', () => {
    const s = debianSources({
      ...defaults,
      suite: 'bullseye',
      securityMirror: 'http://127.0.0.1:8/x',
      securityMirrorTrusted: true,
    });
    expect(renderSources('bullseye', s.all).text).toContain(
      'deb [trusted=yes] http://127.0.0.1:8/x bullseye-security main',
    );
    expect(renderSources('bookworm', s.all).text).toMatch(/URIs: http:\/\/127\.0\.0\.1:8\/x\n.*\n.*\nTrusted: yes/);
  });

  it('a -updates suite the mirror no longer serves is left out of the sources', () => {
    const s = debianSources({ ...defaults, suite: 'bullseye' }).all;
    const fp = JSON.stringify({
      'http://deb.debian.org/debian bullseye-updates': 'absent',
      'http://deb.debian.org/debian-security bullseye-security': 'inrelease:ab',
    });
    expect(presentSources(s, fp).map((x) => x.suites)).toEqual([['bullseye'], ['bullseye-security']]);
  });
});

describe('initrd checks across suites', () => {
  it('accepts compressed modules and merged /usr', () => {
    expect(
      initrdHas('usr/lib/modules/6.12.0-1-amd64/kernel/drivers/block/nbd.ko.xz', 'kernel/drivers/block/nbd.ko'),
    ).toBe(true);
    expect(initrdHas('lib/modules/5.10.0-30-amd64/kernel/drivers/block/nbd.ko', 'kernel/drivers/block/nbd.ko')).toBe(
      true,
    );
    expect(initrdHas('usr/lib/modules/6.1/kernel/fs/nfs/nfs.ko.zst', 'nfs.ko')).toBe(true);
    expect(initrdHas('usr/bin/grep', 'bin/grep')).toBe(true);
    expect(initrdHas('usr/sbin/nbd-client', 'sbin/nbd-client')).toBe(true);
    expect(initrdHas('lib/modules/x/kernel/fs/nfs/nfsv4.ko', 'nfs.ko')).toBe(false);
    expect(initrdHas('usr/bin/egrep', 'bin/grep')).toBe(false);
  });
});

describe('package manifest', () => {
  it("lists installed packages from dpkg's status, sorted, with their source package", () => {
    const status = readFileSync(join(ROOT, 'test/fixtures/dpkg-status/status'), 'utf8');
    expect(parseDpkgStatus(status)).toEqual([
      {
        name: 'base-files',
        version: '11.1+deb11u11',
        architecture: 'amd64',
        source: 'base-files',
        sourceVersion: '11.1+deb11u11',
      },
      {
        name: 'libc6',
        version: '2.31-13+deb11u11',
        architecture: 'amd64',
        source: 'glibc',
        sourceVersion: '2.31-13+deb11u11',
      },
      { name: 'libgcc-s1', version: '10.2.1-6', architecture: 'amd64', source: 'gcc-10', sourceVersion: '10.2.1-6' },
    ]);
  });
});
