import { describe, expect, it } from 'vitest';
import { codes, isNetbootError } from '../../base/errors.js';
import { renderLock } from '../../cli/lock.js';
import { reach } from '../../cli/pins.js';
import { closure, parseCatalog } from '../../plugins/freebsd/packagesite.js';
import { readPkgManifest, registrationOrder } from '../../plugins/freebsd/pkg-register.js';
import { ARCHIVE_MIRROR, parseManifest, releaseMirrors, SUPPORTED_MIRROR } from '../../plugins/freebsd/release.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return isNetbootError(e) ? e.code : String(e);
  }
  return 'no error';
};

describe('a release MANIFEST (release/scripts/make-manifest.sh)', () => {
  it('reads name, sha256, file count, set, quoted description and on/off, tab-separated', () => {
    const text =
      `base.txz\t${A}\t26914\tbase\t"Base system (MANDATORY)"\ton\n` +
      `src.txz\t${B}\t95372\tsrc\t"System source code"\toff\n`;
    expect(parseManifest(text, 'M')).toEqual({ 'base.txz': { sha256: A }, 'src.txz': { sha256: B } });
  });
  it('refuses what is not one (an HTML error page, a short line, a set listed twice, nothing)', () => {
    expect(codeOf(() => parseManifest('<html>Not Found</html>\n', 'M'))).toBe(codes.INDEX_INVALID);
    expect(codeOf(() => parseManifest(`base.txz\t${A}\n`, 'M'))).toBe(codes.INDEX_INVALID);
    const line = `base.txz\t${A}\t1\tbase\t"x"\ton\n`;
    expect(codeOf(() => parseManifest(line + line, 'M'))).toBe(codes.INDEX_INVALID);
    expect(codeOf(() => parseManifest('\n', 'M'))).toBe(codes.INDEX_INVALID);
  });
  it('supported releases are looked for on download.freebsd.org first, others on the archive first', () => {
    expect(releaseMirrors('14.3-RELEASE')).toEqual([SUPPORTED_MIRROR, ARCHIVE_MIRROR]);
    expect(releaseMirrors('10.4-RELEASE')).toEqual([ARCHIVE_MIRROR, SUPPORTED_MIRROR]);
    expect(releaseMirrors('10.4-RELEASE', 'http://m/releases/')).toEqual(['http://m/releases']);
  });
});

describe('a pkg catalog (packagesite.yaml)', () => {
  const line = (o: object) => JSON.stringify(o);
  const yaml = [
    line({ name: 'tmux', version: '3.5a', path: 'All/tmux-3.5a.pkg', sum: A, deps: { libevent: { version: '2' } } }),
    line({ name: 'libevent', version: '2.1.12', repopath: 'All/libevent-2.1.12.pkg', sum: B }),
  ].join('\n');
  it('reads each package with its path, version, sum and dependencies; closes over dependencies', () => {
    const c = parseCatalog(yaml, 'C');
    expect(c.tmux).toEqual({ sha256: A, path: 'All/tmux-3.5a.pkg', version: '3.5a', deps: ['libevent'] });
    expect(c.libevent.path).toBe('All/libevent-2.1.12.pkg');
    expect(
      closure(['tmux'], c, (n) => {
        throw new Error(n);
      }),
    ).toEqual(['libevent', 'tmux']);
    expect(reach(['tmux', 'zsh'], c)).toEqual({ have: ['libevent', 'tmux'], missing: ['zsh'] });
  });
  it('refuses a path that climbs out of the repository, and a line that is not JSON', () => {
    const bad = line({ name: 'x', version: '1', path: '../../etc/passwd', sum: A });
    expect(codeOf(() => parseCatalog(bad, 'C'))).toBe(codes.INDEX_INVALID);
    expect(codeOf(() => parseCatalog('{name', 'C'))).toBe(codes.INDEX_INVALID);
  });
  it('a package is registered from its +MANIFEST without install scripts; a UCL one: the compact one', () => {
    const meta = (m: string, c: string) =>
      new Map([
        ['+MANIFEST', Buffer.from(m)],
        ['+COMPACT_MANIFEST', Buffer.from(c)],
      ]);
    const compact = JSON.stringify({ name: 'tmux', version: '3.5a', deps: { libevent: {} } });
    const full = JSON.stringify({
      name: 'tmux',
      version: '3.5a',
      files: { '/usr/local/bin/tmux': '1$x' },
      scripts: {},
    });
    const m = readPkgManifest(meta(full, compact), 'p');
    expect(JSON.parse(m.json)).toEqual({ name: 'tmux', version: '3.5a', files: { '/usr/local/bin/tmux': '1$x' } });
    const ucl = readPkgManifest(meta('name = "tmux";\nversion = "3.5a";\n', compact), 'p');
    expect(ucl).toMatchObject({ name: 'tmux', version: '3.5a', deps: ['libevent'] });
    expect(codeOf(() => readPkgManifest(new Map(), 'p'))).toBe(codes.BAD_ARCHIVE);
  });
  it('registers dependencies before what needs them', () => {
    const m = (name: string, deps: string[] = []) => ({ name, version: '1', deps, json: '{}' });
    expect(registrationOrder([m('tmux', ['libevent']), m('ezjail'), m('libevent')])).toEqual([
      'ezjail',
      'libevent',
      'tmux',
    ]);
  });
});

describe('netboot.lock', () => {
  it('is the same bytes whatever order its entries were added in', () => {
    const one = renderLock({
      version: 1,
      indexes: { z: { url: 'u', entries: { b: { sha256: B }, a: { sha256: A } } }, a: { url: 'v', entries: {} } },
    });
    const two = renderLock({
      version: 1,
      indexes: { a: { url: 'v', entries: {} }, z: { url: 'u', entries: { a: { sha256: A }, b: { sha256: B } } } },
    });
    expect(one).toBe(two);
    expect(one.endsWith('}\n')).toBe(true);
  });
});
