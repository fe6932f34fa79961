import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DebStore } from '../../cache/deb-store.js';
import { parseUris } from '../../plugins/debian/apt-install.js';
import { APT_NAMES_AWK } from '../../plugins/debian/base.js';

const dir = mkdtempSync(join(tmpdir(), 'netboot-debs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const download = (name: string, bytes: Buffer) => {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
};

describe('the download store', () => {
  const store = new DebStore(join(dir, 'debs'));
  const deb = Buffer.from('!<arch>\ndebian-binary   a stand-in for a package\n');

  it('takes a download whose content hashes to the sha256 its index gives, and hands out the same bytes', async () => {
    expect(await store.add(download('tree_1_amd64.deb', deb), sha(deb))).toBe(true);
    expect(statSync(store.path(sha(deb))).mode & 0o777).toBe(0o444);
    const out = join(dir, 'out.deb');
    expect(await store.linkOut(sha(deb), out)).toBe(true);
    expect(readFileSync(out)).toEqual(deb);
  });

  it('refuses a download that does not match its index (a truncated or tampered file)', async () => {
    const bad = Buffer.from('not the package the index names');
    expect(await store.add(download('bad.deb', bad), '0'.repeat(64))).toBe(false);
    expect(await store.linkOut('0'.repeat(64), join(dir, 'x.deb'))).toBe(false);
  });

  it('never hands out a stored file that was damaged, and removes it so the step downloads it again', async () => {
    const other = Buffer.from('another package, then a bit flipped on disk');
    await store.add(download('other.deb', other), sha(other));
    const path = store.path(sha(other));
    chmodSync(path, 0o644);
    writeFileSync(path, Buffer.from('another package, then a bit flipped on dusk'));
    expect(await store.linkOut(sha(other), join(dir, 'other-out.deb'))).toBe(false);
    expect(() => statSync(path)).toThrow();
    // The step's fresh download goes in again.
    expect(await store.add(download('other-again.deb', other), sha(other))).toBe(true);
    expect(await store.linkOut(sha(other), join(dir, 'other-out.deb'))).toBe(true);
  });

  it('knows nothing of names that are not a sha256', async () => {
    expect(await store.linkOut('../../etc/passwd', join(dir, 'p'))).toBe(false);
    expect(await store.add(download('y.deb', deb), 'SHA256')).toBe(false);
  });
});

describe("apt's last index files in the store", () => {
  const store = new DebStore(join(dir, 'lists-store'));
  const name = 'deb.debian.org_debian_dists_bullseye_main_binary-amd64_Packages';
  const index = Buffer.from('Package: tree\nVersion: 1.8.0-1+b1\nSHA256: ab\n\n');

  it('keeps a fetched index as the latest of its apt name, by its content, and hands it out checked', async () => {
    expect(await store.keepList(name, download('Packages', index))).toBe(true);
    expect(await store.lists()).toEqual(new Map([[name, sha(index)]]));
    const out = join(dir, 'Packages-out');
    expect(await store.linkOut(sha(index), out)).toBe(true);
    expect(readFileSync(out)).toEqual(index);
  });

  it('a newer index of the same name replaces the entry; the older content stays only as a blob', async () => {
    const newer = Buffer.from('Package: tree\nVersion: 2.0.0-1\nSHA256: cd\n\n');
    expect(await store.keepList(name, download('Packages2', newer))).toBe(true);
    expect((await store.lists()).get(name)).toBe(sha(newer));
  });

  it('never takes a name that could leave the lists dir, a dot file or a temp', async () => {
    for (const bad of ['../InRelease', '.hidden', 'a/b', 'x.tmp', ''])
      expect(await store.keepList(bad, download('InRelease', index)), bad).toBe(false);
    expect([...(await store.lists()).keys()]).toEqual([name]);
  });

  it('ignores a damaged name entry (not a sha256)', async () => {
    writeFileSync(join(dir, 'lists-store', 'lists', 'deb.debian.org_debian_dists_bullseye_InRelease'), 'garbage\n');
    expect([...(await store.lists()).keys()]).toEqual([name]);
  });
});

describe("apt-get --print-uris (what a step would download, by the index's SHA256)", () => {
  it('is read as name, size and sha256 per package; the other lines are not', () => {
    const text = readFileSync(join(__dirname, '../fixtures/apt-print-uris/install.txt'), 'utf8');
    expect(parseUris(text)).toEqual([
      {
        uri: expect.stringMatching(/^http:\/\/deb.debian.org\/debian\/pool\/main\/libt\/.*_0.04-11_amd64.deb$/),
        name: 'libtext-charwidth-perl_0.04-11_amd64.deb',
        size: 9496,
        sha256: '96d8d2e55c51c998becbe4ec3b009022ee61d52526f811696ec10ee11b08910e',
      },
      expect.objectContaining({ name: 'cowsay_3.03+dfsg2-8_all.deb', size: 21372 }),
      expect.objectContaining({ name: 'tree_2.1.0-1_amd64.deb', size: 52464 }),
    ]);
  });

  it('leaves out a line with another hash (apt prints MD5Sum unless told to force SHA256)', () => {
    expect(parseUris("'http://x/pool/t.deb' t_1_amd64.deb 5 MD5Sum:a12f30705b94d891f14bd5199fe6f4f2\n")).toEqual([]);
  });
});

describe("mmdebstrap's hooks: stored packages by the names apt gives them in its archive dir", () => {
  it('names each package of the index whose SHA256 the store holds: an epoch as %3a, arch all as all', () => {
    const want = join(dir, 'want');
    writeFileSync(
      want,
      'cfd1d96b44c68f42c3739954ce9445dea472a59d31b5a70aa7d64be93f588a09\n' +
        '0edb49f4dffe0d5608069f7e4ba4d69544d3b9e86fc314dd8b75e9958d8e5e98\n' +
        'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\n',
    );
    const packages = join(__dirname, '../fixtures/apt-packages/Packages');
    // The index's last stanza without the blank line after it counts too.
    const trimmed = join(dir, 'Packages-trimmed');
    writeFileSync(trimmed, readFileSync(packages, 'utf8').trimEnd().concat('\n'));
    // A hostile (unsigned) index: a name with a '/' would make the hook link outside the archive dir.
    const hostile = join(dir, 'Packages-hostile');
    writeFileSync(
      hostile,
      'Package: ../../../etc/cron.d/x\nVersion: 1\nArchitecture: all\n' +
        'SHA256: ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\n',
    );
    expect(execFileSync('awk', [APT_NAMES_AWK, want, hostile], { encoding: 'utf8' })).toBe('');
    for (const index of [packages, trimmed])
      expect(execFileSync('awk', [APT_NAMES_AWK, want, index], { encoding: 'utf8' })).toBe(
        'cfd1d96b44c68f42c3739954ce9445dea472a59d31b5a70aa7d64be93f588a09 6tunnel_1%3a0.13-2_amd64.deb\n' +
          '0edb49f4dffe0d5608069f7e4ba4d69544d3b9e86fc314dd8b75e9958d8e5e98 tzdata_2026b-0+deb12u1_all.deb\n',
      );
  });
});
