// Hostile archives for the extract-tar tests, written with tar-stream's pack (which stores any
// name as given). Each aims at a sentinel directory outside the project, so an extractor that
// followed one would leave a visible trace there.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device';
  content?: string;
  linkname?: string;
  mode?: number;
  devmajor?: number;
  devminor?: number;
}

export type Compression = 'none' | 'gzip' | 'xz' | 'zstd';

export async function writeTar(dest: string, entries: TarEntry[], compression: Compression): Promise<void> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: 0,
      gid: 0,
      mtime: new Date(0),
    };
    if (type === 'file') pack.entry(header, e.content ?? '');
    else pack.entry({ ...header, linkname: e.linkname, devmajor: e.devmajor, devminor: e.devminor });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  const bytes =
    compression === 'gzip'
      ? gzipSync(raw)
      : compression === 'xz'
        ? execFileSync('xz', ['-c'], { input: raw })
        : compression === 'zstd'
          ? execFileSync('zstd', ['-c', '-q'], { input: raw })
          : raw;
  writeFileSync(dest, bytes);
}

export interface HostileCase {
  id: string;
  compression: Compression;
  entries: TarEntry[];
  /** The entry the refusal must name, and a pattern of its reason. */
  entry: string;
  why: RegExp;
}

/** `sentinel` is an absolute directory holding one file, `victim`. */
export function hostileCases(sentinel: string): HostileCase[] {
  // Enough '..' to reach / from any scratch directory, then down into the sentinel.
  const up = '../'.repeat(32) + sentinel.slice(1);
  // A harmless entry first: the refusal comes after something was already written.
  const ok: TarEntry = { name: './ok', content: 'fine\n' };
  const symlink: TarEntry = { name: './a', type: 'symlink', linkname: sentinel };
  return [
    {
      id: 'absolute name',
      compression: 'none',
      entries: [ok, { name: `${sentinel}/absolute`, content: 'pwned\n' }],
      entry: `${sentinel}/absolute`,
      why: /its name is absolute/,
    },
    {
      id: '../ escape',
      compression: 'xz',
      entries: [ok, { name: `${up}/escape`, content: 'pwned\n' }],
      entry: `${up}/escape`,
      why: /its name has a "\.\." component/,
    },
    {
      id: 'plain ../escape',
      compression: 'none',
      entries: [ok, { name: '../escape', content: 'pwned\n' }],
      entry: '../escape',
      why: /its name has a "\.\." component/,
    },
    {
      id: 'symlink, then a write through it',
      compression: 'gzip',
      entries: [ok, symlink, { name: './a/written', content: 'pwned\n' }],
      entry: './a/written',
      why: new RegExp(`it goes through "a", a symlink of the archive \\(to "${sentinel}"\\)`),
    },
    {
      id: 'symlink, then a hardlink through it',
      compression: 'none',
      entries: [
        ok,
        symlink,
        { name: './h', type: 'link', linkname: './a/victim' },
        { name: './h', content: 'pwned\n' },
      ],
      entry: './h',
      why: /its hardlink target ".\/a\/victim" goes through "a", a symlink of the archive/,
    },
    {
      id: 'hardlink to /etc/passwd',
      compression: 'none',
      entries: [ok, { name: './pw', type: 'link', linkname: '/etc/passwd' }],
      entry: './pw',
      why: /its hardlink target "\/etc\/passwd" is absolute/,
    },
    {
      id: 'hardlink to ../outside, then a write through it',
      compression: 'xz',
      entries: [ok, { name: './v', type: 'link', linkname: `${up}/victim` }, { name: './v', content: 'pwned\n' }],
      entry: './v',
      why: /its hardlink target ".*" has a "\.\." component/,
    },
    {
      id: 'device node',
      compression: 'none',
      entries: [ok, { name: './dev/mem', type: 'character-device', mode: 0o640, devmajor: 1, devminor: 1 }],
      entry: './dev/mem',
      why: /a device node \(set the devices param to allow it\)/,
    },
  ];
}
