import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BenchAbort,
  type BenchContext,
  type CaseResult,
  type Cmd,
  median,
  type Row,
  runChecked,
  timeCaptured,
  timeOnce,
  withFixture,
} from '../lib.js';

/** About the number of regular files in a Debian rootfs (bookworm minbase has ~20k, a small server ~30k). */
const FILES = 30_000;
/**
 * A round times five tools over 30,000 files and removes ~150,000 entries after them: 20 to 30 s
 * on a 2-core VM, so 5 rounds keep `npm run bench` within a few minutes.
 */
const DEFAULT_RUNS = 5;
const HOST = 'rootfs';

interface Built {
  digest: string;
  size: number;
  files: number;
}

interface Stage {
  bytesWritten: number;
  linked: number;
  copied: number;
}

/**
 * One tool of a table: `run` prepares what it needs (untimed), times one command, and measures its result (untimed).
 */
interface Trial {
  label: string;
  samples: number[];
  run(round: string): void;
  detail(): string;
}

/**
 * Publishing a rootfs-sized tree: the first publish next to `cp -a` of the same tree, and a
 * republish after a one-file change next to `cp -al` and `rsync --link-dest` of the previous
 * release. Both tables come from the same rounds: each round's first netboot publish is the
 * previous release its republishes start from.
 */
export async function publish(ctx: BenchContext): Promise<CaseResult[]> {
  for (const tool of ['cp', 'rsync', 'du', 'sync'])
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0)
      throw new BenchAbort(
        `publish: \`${tool}\` is missing (scripts/install-deps.sh installs it; for rsync: apt-get install -y rsync)`,
      );
  const runs = ctx.runsSet ? ctx.runs : Math.min(ctx.runs, DEFAULT_RUNS);

  return withFixture(ctx.root, 'publish', async (dir) => {
    const config = join(dir, 'netboot.config.ts');
    const treeDir = (b: Built) => join(dir, '.netboot', 'cache', 'trees', b.digest);
    const env = (revision: string, san = join(dir, 'san')): NodeJS.ProcessEnv => ({
      ...ctx.env,
      BENCH_PUBLISH_FILES: String(FILES),
      BENCH_PUBLISH_REVISION: revision,
      BENCH_PUBLISH_SAN: san,
    });
    const netboot = (command: 'build' | 'publish', label: string): Cmd => ({
      label,
      file: process.execPath,
      args: [join(ctx.root, 'bin', 'netboot.js'), command, HOST, '--json', '--config', config],
      cwd: dir,
    });

    progress(`building the fixture (2 revisions of ${FILES} files)`);
    // Both revisions built once, untimed: every publish below is of a host whose build is a cache hit.
    const r1 = builtTree(runChecked(netboot('build', 'netboot build (revision r1)'), env('r1')), 'r1');
    const r2 = builtTree(runChecked(netboot('build', 'netboot build (revision r2)'), env('r2')), 'r2');
    if (r1.digest === r2.digest)
      throw new BenchAbort('publish: revisions r1 and r2 built the same tree; the republish would change nothing');
    for (const b of [r1, r2])
      if (!existsSync(treeDir(b))) throw new BenchAbort(`publish: built tree ${treeDir(b)} is not in the cache`);
    const tree1 = treeDir(r1);
    const tree2 = treeDir(r2);
    const releaseDir = (round: string, id: string) => join(round, 'san', 'nfs', '.releases', HOST, id);

    const firstNetboot = netbootTrial(
      'netboot publish (first)',
      () => netboot('publish', 'netboot publish (first)'),
      '000001',
      (round) => ({
        env: env('r1', join(round, 'san')),
        result: join(round, 'san'),
        prior: [tree1, tree2],
      }),
    );
    const cpA = copyTrial(ctx.env, 'cp -a', (round) => ({
      file: 'cp',
      args: ['-a', tree1, join(round, 'cp-a')],
      result: join(round, 'cp-a'),
      prior: [tree1, tree2],
    }));
    const first: Trial[] = [cpA, firstNetboot];

    const prev = (round: string) => releaseDir(round, '000001');
    const cpAl = copyTrial(ctx.env, 'cp -al', (round) => ({
      file: 'cp',
      args: ['-al', prev(round), join(round, 'cp-al')],
      result: join(round, 'cp-al'),
      prior: [tree1, tree2, prev(round)],
    }));
    const rsync = copyTrial(ctx.env, 'rsync -a --link-dest', (round) => ({
      file: 'rsync',
      args: ['-a', `--link-dest=${prev(round)}`, `${tree2}/`, `${join(round, 'rsync')}/`],
      result: join(round, 'rsync'),
      prior: [tree1, tree2, prev(round)],
    }));
    const againNetboot = netbootTrial(
      'netboot publish (1 file changed)',
      () => netboot('publish', 'netboot publish (1 file changed)'),
      '000002',
      (round) => ({
        env: env('r2', join(round, 'san')),
        result: releaseDir(round, '000002'),
        prior: [tree1, tree2, prev(round)],
      }),
    );
    const again: Trial[] = [cpAl, rsync, againNetboot];

    // Everything a round makes lives under the fixture's temp dir, on the cache's file system, and
    // stays there until withFixture removes the dir: on a file system mounted with `discard` (this
    // VM's is), writing into blocks freed a moment before is several times slower, and removing
    // each round's ~150,000 entries before the next would put that cost on whichever tool ran first.
    const rounds = join(dir, 'rounds');
    for (let i = 0; i < runs; i++) {
      const round = join(rounds, String(i));
      progress(`round ${i + 1} of ${runs}`);
      await mkdir(round, { recursive: true });
      for (const t of rotate(first, i)) t.run(round);
      for (const t of rotate(again, i)) t.run(round);
    }
    progress('removing the rounds');
    await rm(rounds, { recursive: true, force: true });

    const fs = fsType(dir);
    const nRuns = `N=${runs}${ctx.runsSet ? '' : `, this case's default; BENCH_RUNS sets it`}`;
    const treeLine = `${FILES.toLocaleString('en-US')} files (${mib(r1.size)})`;
    const common = [
      `The tree: bench/fixtures/publish, one step making a tree of ${treeLine}: 256 B to 4 KiB each, ` +
        `deterministic, 100 to a directory (${dirCount(FILES)} directories), mtimes clamped to sourceDateEpoch; ` +
        'published read-only to the nfs target.',
      `netboot's time is the whole \`netboot publish ${HOST} --json\` process of a host already built (its build ` +
        'is a cache hit): node start, config load, a no-op build, then staging, the syncfs, the rename and the ' +
        'symlink switch.',
      `Cache, SAN roots and copies are in one temp dir under os.tmpdir() (file system: ${fs}), so every hard link ` +
        'is possible. Rounds are removed only after the last one, because writing into blocks just freed was ' +
        'several times slower here: cp -a of this tree took 1.3 s, but 10 to 13 s right after an rm -r of an ' +
        'earlier copy (likely the discard mount option on a virtual disk). `sync` runs, untimed, before each ' +
        "timed command, so no tool pays for another's writeback; netboot flushes its own release (`sync -f`) " +
        'before committing it, the copies flush nothing.',
      'Page cache warm: the trees were just built and are read every round; no cache is dropped. A cold cache ' +
        'would cost every tool more, cp -a most (it reads the data of every file; the others link unchanged ' +
        'files and read only metadata).',
      '"bytes written": for netboot, its own `--json` stage report (files linked, files copied, bytes copied); ' +
        'for every row, "du new": blocks of the result shared with neither the cache\'s trees nor the previous ' +
        'release (one `du -sB1` over them and the result; hard links count once). It includes directory blocks ' +
        "(4 KiB each) and netboot's release manifest (`.netboot-release.json`).",
    ];
    return [
      {
        name: `publish: first publish of a tree of ${treeLine} (${nRuns})`,
        baseline: cpA.label,
        rows: first.map(row),
        detailHead: 'bytes written',
        notes: [
          'Each run: `netboot publish` into a SAN root that does not exist yet; `cp -a <cache tree> <fresh ' +
            'dir>`. Interleaved, the order rotating each round.',
          ...common,
        ],
      },
      {
        name: `publish: republish of that tree after a one-file change (${nRuns})`,
        baseline: cpAl.label,
        rows: again.map(row),
        detailHead: 'bytes written',
        notes: [
          'Each round starts from the release its first-publish netboot run made (revision r1). Then: `netboot ' +
            'publish` of the host built with revision r2 (etc/revision differs, the other 29,999 files are ' +
            'identical) into that SAN root; `cp -al <previous release> <fresh dir>`; `rsync -a ' +
            '--link-dest=<previous release> <cache tree of r2>/ <fresh dir>/`.',
          'cp -al is the floor (a linked copy of the old release, the changed file included; it publishes nothing ' +
            'new). rsync decides by its quick check (size and mtime; the clamped mtimes make the unchanged ' +
            "files match) and copies the changed file; netboot decides by the manifests' digests (it reads no " +
            'file) and links even the changed file, from the cache.',
          'Two releases stay under san.keep (3), so nothing is pruned; a steady-state republish also removes the ' +
            'oldest release (an rm -r of 30,000 links), not measured here.',
          'The tree, file system, `sync` before each command, page cache and "bytes written": as for the first ' +
            'publish, above.',
        ],
      },
    ];
  });
}

/** The case takes minutes: a line per stage on stderr, so a silent terminal does not look hung. */
function progress(line: string): void {
  process.stderr.write(`publish: ${line}\n`);
}

/** The file system under `dir`, and whether it is mounted with online discard (see the rounds loop). */
function fsType(dir: string): string {
  const m = spawnSync('findmnt', ['-n', '-o', 'FSTYPE,OPTIONS', '--target', dir], { encoding: 'utf8' });
  const [type, options] = m.status === 0 ? m.stdout.trim().split(/\s+/) : [];
  if (!type) return spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout?.trim() || 'unknown';
  return options?.split(',').includes('discard') ? `${type}, mounted with discard` : type;
}

function rotate<T>(xs: T[], i: number): T[] {
  return xs.map((_, j) => xs[(i + j) % xs.length]);
}

function row(t: Trial): Row {
  return { tool: t.label, samples: t.samples, detail: t.detail() };
}

/** Flushes every file system's dirty data, untimed, so the next timed command starts clean. */
function settle(): void {
  spawnSync('sync', [], { stdio: 'ignore' });
}

/** Bytes of `result` in blocks no path of `prior` holds: `du` counts each inode once, the first time it meets it. */
function newBytes(prior: string[], result: string): number {
  const r = spawnSync('du', ['-s', '-B1', ...prior, result], { encoding: 'utf8' });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  const m = /^(\d+)\s+(.*)$/.exec(last);
  if (r.status !== 0 || !m || m[2] !== result)
    throw new BenchAbort(`publish: \`du -s -B1 ${[...prior, result].join(' ')}\` failed:\n${r.stderr}`);
  return Number(m[1]);
}

function copyTrial(
  env: NodeJS.ProcessEnv,
  label: string,
  plan: (round: string) => { file: string; args: string[]; result: string; prior: string[] },
): Trial {
  const written: number[] = [];
  const t: Trial = {
    label,
    samples: [],
    run(round) {
      const p = plan(round);
      settle();
      t.samples.push(timeOnce({ label, file: p.file, args: p.args, cwd: round }, env));
      written.push(newBytes(p.prior, p.result));
    },
    detail: () => `du new ${spread(written, mib)}`,
  };
  return t;
}

function netbootTrial(
  label: string,
  cmd: () => Cmd,
  wantId: string,
  plan: (round: string) => { env: NodeJS.ProcessEnv; result: string; prior: string[] },
): Trial {
  const stages: Stage[] = [];
  const written: number[] = [];
  const t: Trial = {
    label,
    samples: [],
    run(round) {
      const p = plan(round);
      settle();
      const { ms, stdout } = timeCaptured({ ...cmd(), cwd: round }, p.env);
      t.samples.push(ms);
      stages.push(stageOf(label, stdout, wantId));
      written.push(newBytes(p.prior, p.result));
    },
    detail: () =>
      `stage: ${spread(
        stages.map((s) => s.linked),
        String,
      )} linked, ${spread(
        stages.map((s) => s.copied),
        String,
      )} copied, ` +
      `${spread(
        stages.map((s) => s.bytesWritten),
        mib,
      )}; du new ${spread(written, mib)}`,
  };
  return t;
}

/** The tree a `netboot build --json` made; anything else means the fixture is not what the tables say. */
function builtTree(stdout: string, revision: string): Built {
  let steps: { step: string; outcome: string; outputs: Record<string, { kind: string } & Built> | null }[];
  try {
    steps = JSON.parse(stdout).steps;
  } catch {
    throw new BenchAbort(`publish: \`netboot build --json\` (revision ${revision}) printed no JSON:\n${stdout}`);
  }
  const tree = steps.find((s) => s.step === 'rootfs')?.outputs?.tree;
  if (tree?.kind !== 'tree' || tree.files !== FILES)
    throw new BenchAbort(
      `publish: the build of revision ${revision} did not make a tree of ${FILES} files:\n${stdout.slice(0, 2000)}`,
    );
  return { digest: tree.digest, size: tree.size, files: tree.files };
}

/** The nfs target's stage report, after checking the publish made the release the table says it timed. */
function stageOf(label: string, stdout: string, wantId: string): Stage {
  let out: {
    ok: boolean;
    published: { changed: boolean; id?: string; targets: { target: string; changed: boolean; stage?: Stage }[] }[];
  };
  try {
    out = JSON.parse(stdout);
  } catch {
    throw new BenchAbort(`publish: ${label}: \`netboot publish --json\` printed no JSON:\n${stdout.slice(0, 2000)}`);
  }
  const host = out.published?.[0];
  const nfs = host?.targets.find((t) => t.target === 'nfs');
  if (!out.ok || !host?.changed || host.id !== wantId || !nfs?.stage)
    throw new BenchAbort(
      `publish: ${label}: expected release ${wantId} staged on nfs, ` +
        `got:\n${JSON.stringify(out.published ?? out, null, 2).slice(0, 2000)}`,
    );
  return nfs.stage;
}

function mib(n: number): string {
  if (n === 0) return '0 B';
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/** One value if every run agreed, else the median and the range. */
function spread(xs: number[], fmt: (n: number) => string): string {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? fmt(lo) : `${fmt(median(xs))} (${fmt(lo)}..${fmt(hi)})`;
}

/** Directories the fixture makes for `files` files: d<k>/s<j> of 100 files, their parents, etc/ and the root. */
function dirCount(files: number): number {
  const leaves = Math.ceil((files - 1) / 100);
  return leaves + Math.ceil(leaves / 10) + 2;
}
