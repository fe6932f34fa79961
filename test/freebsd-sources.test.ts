import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  createReadStream,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostileCases, writeTar } from './freebsd-hostile.js';
import { treeWriter } from './freebsd-sets.js';
import { byStep, Project, type StepRow } from './helpers.js';

// The fixture's recipe: fetch-base (fetch-file) -> extract-base (extract-tar), its source from FB_* variables.
let project: Project;
let work: string;
let sentinel: string;
let server: Server;
let base: string;
let baseSha: string;
let http: string;

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const cache = (...p: string[]) => project.path('.netboot/cache', ...p);
const hasRecord = (key: string | null) => key !== null && existsSync(cache('actions', key.slice(0, 2), `${key}.json`));
async function build(env: Record<string, string>) {
  const r = await project.jsonAsync<{ steps: StepRow[] }>(['build', 'jailhost'], env);
  return { code: r.code, steps: byStep(r.data.steps), stderr: r.stderr };
}

/** Every entry with its type, mode, owner, link target or content digest; hardlinks as "= first path". */
function snapshot(root: string): string[] {
  const rows: string[] = [];
  const inodes = new Map<number, string>();
  const walk = (rel: string) => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = lstatSync(abs);
    const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
    let row = `${rel} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (kind === 'symlink') row += ` -> ${readlinkSync(abs)}`;
    if (kind === 'file') {
      row += ` ${sha(readFileSync(abs)).slice(0, 12)}`;
      if (st.nlink > 1) inodes.has(st.ino) ? (row += ` = ${inodes.get(st.ino)}`) : inodes.set(st.ino, rel);
    }
    rows.push(row);
    if (kind === 'dir') for (const n of readdirSync(abs).sort()) walk(rel === '.' ? n : `${rel}/${n}`);
  };
  walk('.');
  return rows;
}

/** The sentinel's names, contents and link counts: an escape would change one of them. */
const sentinelState = () =>
  readdirSync(sentinel).map(
    (n) => `${n} ${lstatSync(join(sentinel, n)).nlink} ${sha(readFileSync(join(sentinel, n)))}`,
  );
const passwdState = () => `${lstatSync('/etc/passwd').nlink} ${sha(readFileSync('/etc/passwd'))}`;

beforeAll(async () => {
  project = new Project('freebsd');
  work = mkdtempSync(join(dirname(project.dir), 'netboot-freebsd-sets-'));
  // Beside the project (and the cache in it): where a hostile archive aims.
  sentinel = mkdtempSync(join(dirname(project.dir), 'netboot-sentinel-'));
  writeFileSync(join(sentinel, 'victim'), 'untouched\n');

  // A tiny base set in FreeBSD's layout, packed as the release's sets are: xz, ./-relative names.
  const root = join(work, 'root');
  const file = treeWriter(root);
  file('bin/sh', '#!/bin/sh\n# not really a shell\n', 0o555);
  file('bin/test', 'test\n', 0o555);
  linkSync(join(root, 'bin/test'), join(root, 'bin/['));
  file('boot/kernel/kernel', 'ELF kernel\n', 0o555);
  file('boot/pxeboot', 'pxeboot\n', 0o444);
  file('etc/rc.conf', 'hostname="jailhost"\n', 0o644);
  file('usr/bin/su', 'su\n', 0o4755, 1001, 1001);
  chmodSync(join(root, 'usr/bin'), 0o750);
  symlinkSync('usr/src/sys', join(root, 'sys'));
  base = join(work, 'base.txz');
  execFileSync('tar', ['--xz', '--format=pax', '-cf', base, '--numeric-owner', '-C', root, '.']);
  baseSha = sha(readFileSync(base));

  server = createServer((req, res) => {
    if (req.url === '/FreeBSD/base.txz') return void createReadStream(base).pipe(res);
    if (req.url === '/moved/base.txz') return void res.writeHead(302, { location: '/FreeBSD/base.txz' }).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  http = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  project?.remove();
  for (const d of [work, sentinel]) if (d) rmSync(d, { recursive: true, force: true });
});

describe('fetch-file and extract-tar on a distribution set', () => {
  it('fetches from file://, extracts modes, owners, symlinks and hardlinks as packed', async () => {
    const r = await build({ FB_URL: pathToFileURL(base).href, FB_SHA256: baseSha });
    expect(r.code, r.stderr).toBe(0);
    expect([r.steps['fetch-base'].outcome, r.steps['extract-base'].outcome]).toEqual(['ran', 'ran']);
    expect(r.steps['fetch-base'].outputs!.file.digest).toBe(baseSha);
    const tree = cache('trees', r.steps['extract-base'].outputs!.tree.digest);
    const got = snapshot(tree);
    // The cache stores a tree's files without write bits; the manifest keeps the modes as packed.
    const readOnly = (rows: string[]) =>
      rows.map((r) => r.replace(/^(\S+ file )([0-7]+)/, (_, a, m) => a + (parseInt(m, 8) & ~0o222).toString(8)));
    expect(got).toEqual(readOnly(snapshot(join(work, 'root'))));
    const d = r.steps['extract-base'].outputs!.tree.digest;
    const manifest = JSON.parse(readFileSync(cache('objects', d.slice(0, 2), d), 'utf8')).entries as { path: string }[];
    expect(manifest.find((e) => e.path === 'usr/bin/su')).toMatchObject({
      mode: 0o4755,
      uid: 1001,
      gid: 1001,
      digest: sha('su\n'),
    });
    expect(got).toContain(`usr/bin/su file 4555 1001:1001 ${sha('su\n').slice(0, 12)}`);
    expect(got).toContain('sys symlink 777 0:0 -> usr/src/sys');
    expect(lstatSync(join(tree, 'bin/[')).ino).toBe(lstatSync(join(tree, 'bin/test')).ino);
    expect(existsSync(join(tree, 'boot/pxeboot')) && existsSync(join(tree, 'boot/kernel/kernel'))).toBe(true);

    const again = await build({ FB_URL: pathToFileURL(base).href, FB_SHA256: baseSha });
    expect([again.steps['fetch-base'].outcome, again.steps['extract-base'].outcome]).toEqual(['cached', 'cached']);

    // Packed by bsdtar (pax, as FreeBSD's release tooling writes its sets): the same tree.
    const bsd = join(work, 'base-bsdtar.txz');
    execFileSync('bsdtar', ['-cJf', bsd, '--format', 'pax', '--numeric-owner', '-C', join(work, 'root'), '.']);
    const packed = await build({ FB_URL: pathToFileURL(bsd).href, FB_SHA256: sha(readFileSync(bsd)) });
    expect(packed.code, packed.stderr).toBe(0);
    expect(packed.steps['extract-base'].outputs!.tree.digest).toBe(r.steps['extract-base'].outputs!.tree.digest);
  });

  it('fetches over HTTP (following a redirect): the URL is in the key, the extraction stays cached', async () => {
    for (const url of [`${http}/FreeBSD/base.txz`, `${http}/moved/base.txz`]) {
      const r = await build({ FB_URL: url, FB_SHA256: baseSha });
      expect(r.code, r.stderr).toBe(0);
      expect(r.steps['fetch-base'].outcome).toBe('ran');
      expect(r.steps['fetch-base'].outputs!.file.digest).toBe(baseSha);
      expect(r.steps['extract-base'].outcome).toBe('cached');
    }
  });

  it('a digest mismatch fails the step, naming both digests and the URL, and caches nothing', async () => {
    const wrong = sha('something else');
    const url = `${http}/FreeBSD/base.txz`;
    const r = await build({ FB_URL: url, FB_SHA256: wrong, FB_CACHE: join(work, 'mismatch-cache') });
    expect(r.code).toBe(1);
    const fetch = r.steps['fetch-base'];
    expect(fetch.outcome).toBe('failed');
    expect(fetch.error!.code).toBe('DIGEST_MISMATCH');
    expect(fetch.error!.message).toContain(
      `${url}: sha256 is ${baseSha} (${lstatSync(base).size} bytes), expected ${wrong}; nothing was cached`,
    );
    expect(r.steps['extract-base'].outcome).not.toBe('ran');
    const other = (...p: string[]) => join(work, 'mismatch-cache', ...p);
    expect(existsSync(other('actions', fetch.key!.slice(0, 2), `${fetch.key}.json`))).toBe(false);
    expect(existsSync(other('objects', baseSha.slice(0, 2), baseSha))).toBe(false);
  });

  it('an unreachable URL or a missing file says which file to put where', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const url = `http://127.0.0.1:${port}/releases/amd64/10.4-RELEASE/base.txz`;
    const r = await build({ FB_URL: url, FB_SHA256: baseSha });
    expect(r.code).toBe(1);
    const local = project.path('distfiles/base.txz');
    expect(r.steps['fetch-base'].error!.message).toContain(
      `cannot fetch ${url}: connect ECONNREFUSED 127.0.0.1:${port}; download ${url} yourself (sha256 ${baseSha}), ` +
        `put it at ${local} and set url to "${pathToFileURL(local)}" (or path: "distfiles/base.txz")`,
    );
    expect(hasRecord(r.steps['fetch-base'].key)).toBe(false);

    const missing = await build({ FB_PATH: 'distfiles/base.txz', FB_SHA256: baseSha });
    expect(missing.steps['fetch-base'].error!.message).toContain(
      `cannot fetch ${local}: no such file; put base.txz (sha256 ${baseSha}) at ${local}`,
    );
    expect(
      (await build({ FB_URL: `${http}/nope/base.txz`, FB_SHA256: baseSha })).steps['fetch-base'].error!.message,
    ).toContain('HTTP 404 Not Found');

    // Doing what it says works, and the extraction is the one already cached.
    mkdirSync(project.path('distfiles'));
    writeFileSync(local, readFileSync(base));
    const placed = await build({ FB_PATH: 'distfiles/base.txz', FB_SHA256: baseSha });
    expect(placed.code, placed.stderr).toBe(0);
    expect(placed.steps['extract-base'].outcome).toBe('cached');
  });
});

describe('extract-tar refuses hostile archives', () => {
  const cases = hostileCases('/SENTINEL');
  it.each(cases.map((c) => c.id))('%s', async (id) => {
    const c = hostileCases(sentinel).find((x) => x.id === id)!;
    const before = [sentinelState(), passwdState()];
    const file = join(work, `${id.replace(/\W+/g, '-')}.tar`);
    await writeTar(file, c.entries, c.compression);
    const r = await build({ FB_URL: pathToFileURL(file).href, FB_SHA256: sha(readFileSync(file)) });
    expect(r.code).toBe(1);
    const step = r.steps['extract-base'];
    expect(step.outcome).toBe('failed');
    expect(step.error!.code).toBe('UNSAFE_ARCHIVE_ENTRY');
    expect(step.error!.message).toContain(
      `host jailhost, step extract-base failed: archive entry "${c.entry}" refused: `,
    );
    expect(step.error!.message).toMatch(c.why);
    expect(hasRecord(step.key)).toBe(false);
    expect([sentinelState(), passwdState()]).toEqual(before);
    expect(readdirSync(cache('tmp'))).toEqual([]);
    expect(existsSync(join(dirname(project.dir), 'escape'))).toBe(false);
  });

  it(
    'replaces an earlier symlink by a later file instead of writing through it; devices only when ' + 'allowed',
    async () => {
      const before = sentinelState();
      const file = join(work, 'replace.tar');
      await writeTar(
        file,
        [
          { name: './c', type: 'symlink', linkname: join(sentinel, 'victim') },
          { name: './c', content: 'replaced\n' },
          { name: './dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 },
        ],
        'gzip',
      );
      const r = await build({ FB_URL: pathToFileURL(file).href, FB_SHA256: sha(readFileSync(file)), FB_DEVICES: '1' });
      expect(r.code, r.stderr).toBe(0);
      const tree = cache('trees', r.steps['extract-base'].outputs!.tree.digest);
      expect(lstatSync(join(tree, 'c')).isFile()).toBe(true);
      expect(readFileSync(join(tree, 'c'), 'utf8')).toBe('replaced\n');
      const dev = lstatSync(join(tree, 'dev/null'));
      expect([dev.isCharacterDevice(), dev.rdev, dev.mode & 0o7777]).toEqual([
        true,
        lstatSync('/dev/null').rdev,
        0o666,
      ]);
      expect(sentinelState()).toEqual(before);
    },
  );
});
