import { describe, expect, it } from 'vitest';
import type { ManifestEntry } from '../../cache/tree.js';
import { diffEntries, diffPackages } from '../../publish/diff.js';

const pkg = (name: string, version: string, architecture = 'amd64') => ({
  name,
  version,
  architecture,
  source: name,
  sourceVersion: version,
});
const file = (path: string, digest: string, mode = 0o644, size = 10): ManifestEntry => ({
  path,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  size,
  digest,
});

describe('diff', () => {
  it('packages: upgraded (also downgraded) with both versions, added, removed, sorted by name', () => {
    const d = diffPackages(
      [pkg('openssl', '1.1.1w-0+deb11u1'), pkg('canary', '1'), pkg('gone', '3')],
      [pkg('canary', '2'), pkg('openssl', '1.1.1w-0+deb11u2'), pkg('new', '0.1')],
    );
    expect(d).toEqual({
      upgraded: [
        { name: 'canary', from: '1', to: '2' },
        { name: 'openssl', from: '1.1.1w-0+deb11u1', to: '1.1.1w-0+deb11u2' },
      ],
      added: [{ name: 'new', version: '0.1' }],
      removed: [{ name: 'gone', version: '3' }],
    });
  });

  it('packages: a name in two architectures (multiarch) is told apart by name:arch', () => {
    const d = diffPackages(
      [pkg('libc6', '2.31', 'amd64')],
      [pkg('libc6', '2.31', 'amd64'), pkg('libc6', '2.31', 'i386')],
    );
    expect(d.added).toEqual([{ name: 'libc6:i386', version: '2.31' }]);
    expect(d.upgraded).toEqual([]);
  });

  it('files: counts and bytes per kind; a write bit a release strips is no change; directories are not counted', () => {
    const dir: ManifestEntry = { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0 };
    const d = diffEntries(
      'tftp',
      [dir, file('etc/a', 'x', 0o444), file('etc/b', 'y'), file('etc/c', 'z')],
      [file('etc/a', 'x', 0o644), file('etc/b', 'y2', 0o644, 30), file('etc/d', 'w', 0o644, 5)],
    );
    expect(d).toEqual({
      target: 'tftp',
      added: { count: 1, bytes: 5 },
      removed: { count: 1, bytes: 10 },
      changed: { count: 1, bytes: 30 },
      paths: { added: ['etc/d'], removed: ['etc/c'], changed: ['etc/b'] },
    });
  });
});
