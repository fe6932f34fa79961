// The real Debian rootfs the digest and archive cases measure: made once by mmdebstrap, the way
// netboot's base step makes one, and kept under .netboot/bench/ so later runs take seconds.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestTree } from '../../cache/tree.js';
import { BASE_PACKAGES } from '../../pipelines/debian.js';
import { BenchAbort, type BenchContext, progress, removeTree, runChecked } from '../lib.js';

const SUITE = 'bullseye';
/** pipelines/debian.ts's default mirror, the one the shipped config builds from. */
const MIRROR = 'http://deb.debian.org/debian';
/**
 * On top of the NBD recipe's packages: a server's usual tools and their documentation, which
 * bring a minbase tree (~10k entries, ~250 MB) to the issue's ~30k entries and ~700 MB, with
 * the many small files (man pages, perl and python modules) a real rootfs has.
 */
const EXTRA = [
  'python3',
  'python3-setuptools',
  'perl',
  'perl-doc',
  'ruby',
  'git',
  'vim',
  'less',
  'man-db',
  'manpages',
  'manpages-dev',
  'bash-completion',
  'iso-codes',
  'tzdata',
  'ca-certificates',
];
const ROOTFS_PACKAGES = [...new Set([...BASE_PACKAGES, 'nbd-client', ...EXTRA])].sort();
/** plugins/debian/base.ts's hook: the tree is what netboot's base step would have made. */
const HOOK =
  'rm -f "$1"/etc/resolv.conf; : > "$1"/etc/resolv.conf; : > "$1"/etc/machine-id; rm -f "$1"/etc/ssh/ssh_host_*';
/** Raise when the way the tree is made changes in a way the key below does not see. */
const RECIPE = 1;
const NEED_FREE = 3 * 2 ** 30;

export interface Rootfs {
  tree: string;
  /** The tree's canonical manifest, as the cache stores it for a tree artifact. */
  manifestFile: string;
  digest: string;
  entries: number;
  files: number;
  bytes: number;
  /** "~30k entries, ~700 MB" for table headings. */
  summary: string;
  /** How the tree was had this run (made, or reused and checked), for the notes. */
  origin: string;
}

interface Info {
  digest: string;
  madeAt: string;
  madeSeconds: number;
}

let shared: Promise<Rootfs> | undefined;

/** Why the rootfs cases do not run, if they do not. */
export function rootfsSkipped(): string | undefined {
  if (process.env.BENCH_SKIP_ROOTFS === '1') return 'BENCH_SKIP_ROOTFS=1; the first run needs root and deb.debian.org';
  return undefined;
}

/** One tree for every case of a run: the first caller makes or checks it. */
export function rootfs(ctx: BenchContext): Promise<Rootfs> {
  return (shared ??= prepare(ctx));
}

async function prepare(ctx: BenchContext): Promise<Rootfs> {
  const spec = { RECIPE, SUITE, MIRROR, arch: 'amd64', variant: 'minbase', packages: ROOTFS_PACKAGES, hook: HOOK };
  const key = createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 12);
  const base = join(ctx.root, '.netboot', 'bench');
  const dir = join(base, `rootfs-${SUITE}-${key}`);
  const infoFile = join(dir, 'info.json');

  if (existsSync(infoFile)) {
    const info = JSON.parse(readFileSync(infoFile, 'utf8')) as Info;
    progress('rootfs', `checking the cached tree ${dir}`);
    const t0 = performance.now();
    const t = await digestTree(join(dir, 'tree'));
    const checkS = (performance.now() - t0) / 1000;
    if (t.digest === info.digest) {
      writeFileSync(join(dir, 'manifest.json'), t.manifest);
      const origin =
        `made by mmdebstrap in ${info.madeSeconds.toFixed(0)} s on ${info.madeAt.slice(0, 10)}; ` +
        `reused this run, after checking its digest (${checkS.toFixed(1)} s)`;
      return described(dir, t, origin);
    }
    progress(
      'rootfs',
      `the cached tree changed since it was made (digest ${t.digest.slice(0, 12)}, not ` +
        `${info.digest.slice(0, 12)}): making it again`,
    );
    await removeTree(dir);
  }

  await preflight(base);
  await removeStale(base);
  const tmp = join(base, `.tmp-rootfs-${key}-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  try {
    progress(
      'rootfs',
      `mmdebstrap ${SUITE} with ${ROOTFS_PACKAGES.length} packages into ${tmp} (about 2 minutes, once)`,
    );
    const t0 = performance.now();
    const args = [
      '--mode=root',
      '--variant=minbase',
      '--architectures=amd64',
      `--include=${ROOTFS_PACKAGES.join(',')}`,
      `--customize-hook=${HOOK}`,
      SUITE,
      join(tmp, 'tree'),
      MIRROR,
    ];
    const log = runChecked({ label: 'rootfs: mmdebstrap', file: 'mmdebstrap', args, cwd: tmp }, ctx.env);
    const madeSeconds = (performance.now() - t0) / 1000;
    writeFileSync(join(tmp, 'mmdebstrap.log'), log);
    const t = await digestTree(join(tmp, 'tree'));
    writeFileSync(join(tmp, 'manifest.json'), t.manifest);
    const info: Info = { digest: t.digest, madeAt: new Date().toISOString(), madeSeconds };
    writeFileSync(join(tmp, 'info.json'), JSON.stringify({ ...info, spec }, null, 2));
    // One rename: an interrupted run leaves a .tmp- dir (removed next time), never a half tree under the real name.
    renameSync(tmp, dir);
    return described(
      dir,
      t,
      `made this run by mmdebstrap in ${madeSeconds.toFixed(0)} s (kept in ${dir} for the next run)`,
    );
  } catch (e) {
    await removeTree(tmp).catch(() => {});
    throw e;
  }
}

function described(
  dir: string,
  t: { digest: string; entries: unknown[]; files: number; size: number },
  origin: string,
): Rootfs {
  const summary =
    `${t.entries.length.toLocaleString('en-US')} entries (${t.files.toLocaleString('en-US')} ` +
    `regular files), ${(t.size / 1e6).toFixed(0)} MB`;
  return {
    tree: join(dir, 'tree'),
    manifestFile: join(dir, 'manifest.json'),
    digest: t.digest,
    entries: t.entries.length,
    files: t.files,
    bytes: t.size,
    summary,
    origin,
  };
}

/** Everything that would otherwise fail minutes in, said up front with the way out. */
async function preflight(base: string): Promise<void> {
  const skip = 'or set BENCH_SKIP_ROOTFS=1 to skip the tree digest and archive cases';
  if (process.getuid?.() !== 0)
    throw new BenchAbort(`rootfs: making the Debian tree needs root (mmdebstrap --mode=root), ${skip}`);
  if (spawnSync('sh', ['-c', 'command -v mmdebstrap'], { stdio: 'ignore' }).status !== 0)
    throw new BenchAbort(`rootfs: \`mmdebstrap\` is missing (apt-get install -y mmdebstrap), ${skip}`);
  const url = `${MIRROR}/dists/${SUITE}/InRelease`;
  const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(15_000) }).catch((e: Error) => e);
  if (res instanceof Error || !res.ok)
    throw new BenchAbort(
      `rootfs: ${url} is not reachable (${res instanceof Error ? res.message : `HTTP ${res.status}`}), ${skip}`,
    );
  mkdirSync(base, { recursive: true });
  const { bavail, bsize } = statfsSync(base);
  if (bavail * bsize < NEED_FREE)
    throw new BenchAbort(
      `rootfs: ${base} has ${((bavail * bsize) / 2 ** 30).toFixed(1)} GiB free, the tree and its archives need ` +
        `about ${NEED_FREE / 2 ** 30} GiB, ${skip}`,
    );
}

/** Temp trees of runs that were killed: their process is gone, so nobody else is writing them. */
async function removeStale(base: string): Promise<void> {
  for (const name of readdirSync(base)) {
    const pid = Number(/^\.tmp-rootfs-[0-9a-f]+-(\d+)$/.exec(name)?.[1]);
    if (!pid || alive(pid)) continue;
    progress('rootfs', `removing ${name}, left by an interrupted run`);
    await removeTree(join(base, name));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
