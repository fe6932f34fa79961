import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ManifestEntry, parseManifest } from '../../cache/tree.js';
import { archiveName } from '../../plugins/archive-write.js';
import {
  BenchAbort,
  type BenchContext,
  type CaseResult,
  type Cmd,
  median,
  progress,
  type Row,
  runChecked,
  settle,
  timeOnce,
} from '../lib.js';
import { type Rootfs, rootfs, rootfsSkipped } from './rootfs.js';

/** A round writes four ~780 MB archives: ~15 s here, so 5 rounds keep the case near a minute and a half. */
const DEFAULT_RUNS = 5;
const WORKER = fileURLToPath(new URL('./rootfs-worker.js', import.meta.url));
/** "At least 0.7x their throughput": a time within 1/0.7 of theirs. */
const FACTOR = 1 / 0.7;

interface Tool {
  cmd: Cmd;
  out: string;
  samples: number[];
  bytes: number;
}

/**
 * The rootfs packed, uncompressed, by netboot's archive writers (a newc cpio and a tar, as the
 * cpio and tar steps write them) next to GNU cpio and bsdtar given the same sorted name list.
 * All four run in every round, interleaved, so both tables come from the same conditions.
 */
export async function rootfsArchives(ctx: BenchContext): Promise<CaseResult[]> {
  const skipped = rootfsSkipped();
  if (skipped) return [{ name: 'archives of a Debian rootfs', baseline: '', rows: [], skipped }];
  for (const tool of ['cpio', 'bsdtar'])
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0)
      throw new BenchAbort(
        `archives: \`${tool}\` is missing (apt-get install -y ${tool === 'cpio' ? 'cpio' : 'libarchive-tools'})`,
      );
  const fs = await rootfs(ctx);
  const runs = ctx.runsSet ? ctx.runs : DEFAULT_RUNS;
  const nLine = `N=${runs}${ctx.runsSet ? ' (BENCH_RUNS)' : ", this case's default; BENCH_RUNS sets it"}`;
  const work = await mkdtemp(join(tmpdir(), 'netboot-bench-archives-'));
  try {
    const entries = parseManifest(readFileSync(fs.manifestFile, 'utf8'));
    // writeCpio takes printable ASCII names only; tar has no such rule. Every tool of a table gets the same entries.
    const printable = entries.filter((e) => /^[\x20-\x7e]+$/.test(archiveName(e.path, '')));
    const kept = new Set(printable);
    const refused = entries.filter((e) => !kept.has(e));
    const cpioManifest = join(work, 'cpio-manifest.json');
    writeFileSync(cpioManifest, JSON.stringify({ v: 1, entries: printable }));
    const cpioList = writeList(join(work, 'cpio.list'), printable);
    const tarList = writeList(join(work, 'tar.list'), entries);
    const out = (name: string) => join(work, name);
    const tool = (
      label: string,
      name: string,
      command: (out: string) => [string, ...string[]],
      cwd = fs.tree,
    ): Tool => {
      const [file, ...args] = command(out(name));
      return { cmd: { label, file, args, cwd }, out: out(name), samples: [], bytes: 0 };
    };
    const node = (label: string, kind: 'cpio' | 'tar', manifest: string) =>
      tool(label, `netboot.${kind}`, (o) => [process.execPath, WORKER, kind, fs.tree, manifest, o], work);
    const gnuCpio = tool('GNU cpio -o -H newc', 'gnu.cpio', (o) => [
      'bash',
      '-c',
      'cpio -o -H newc --quiet < "$1" > "$2"',
      'cpio',
      cpioList,
      o,
    ]);
    const netbootCpio = node('netboot writeCpio (newc)', 'cpio', cpioManifest);
    const bsdtar = tool('bsdtar -cf', 'bsd.tar', (o) => ['bsdtar', '-cf', o, '-n', '-T', tarList]);
    const netbootTar = node('netboot writeTar', 'tar', fs.manifestFile);
    const tools = [gnuCpio, netbootCpio, bsdtar, netbootTar];

    const once = (t: Tool) => {
      rmSync(t.out, { force: true });
      settle();
      const ms = timeOnce(t.cmd, ctx.env);
      t.bytes = statSync(t.out).size;
      // Removed before the next tool's sync: its dirty pages are dropped, not written back on someone else's clock.
      rmSync(t.out);
      return ms;
    };
    // Untimed: each tool once, its archive listed by an independent reader to prove it holds every entry.
    progress('archives', 'one untimed run of each tool, each archive listed');
    for (const t of tools) {
      rmSync(t.out, { force: true });
      timeOnce(t.cmd, ctx.env);
      const want = t.out.endsWith('.cpio') ? printable.length : entries.length;
      const reader = t.out.endsWith('.cpio') ? `cpio -it --quiet < "$1" | wc -l` : `bsdtar -tf "$1" | wc -l`;
      const got = Number(
        runChecked(
          {
            label: `list ${t.out}`,
            file: 'bash',
            args: ['-c', `set -o pipefail; ${reader}`, 'list', t.out],
            cwd: work,
          },
          ctx.env,
        ).trim(),
      );
      if (got !== want) throw new BenchAbort(`archives: ${t.cmd.label} wrote ${got} entries, expected ${want}`);
      rmSync(t.out);
    }
    for (let i = 0; i < runs; i++) {
      progress('archives', `round ${i + 1} of ${runs}`);
      for (let j = 0; j < tools.length; j++) {
        const t = tools[(i + j) % tools.length];
        t.samples.push(once(t));
      }
    }

    const heading = (what: string) => `archives of a Debian rootfs (${fs.summary}): ${what}, uncompressed (${nLine})`;
    const common = [
      `Tree: the digest case's (bench/cases/rootfs.ts), ${fs.origin}. netboot: a node process per run ` +
        "(bench/cases/rootfs-worker.ts) reading and parsing the tree's stored manifest (as the cpio and tar " +
        "steps get it from `ctx.manifest`) and writing with plugins/archive-write.ts, gzip off; every entry's " +
        "mtime 1700000000, as the steps set it. Node's startup is in its times.",
      "Same entries, same order for every tool: the manifest's names sorted as netboot sorts them, given to GNU " +
        'cpio on stdin and to bsdtar with `-n -T` (no recursion). Each archive is listed once, untimed, by ' +
        'GNU cpio or bsdtar, and must hold every entry.',
      `Every run writes to ${tmpdir()} (${fsType(work)}); before each, untimed, the previous archive is removed ` +
        "and `sync` runs, so no tool pays for another's writeback. Page cache warm for the tree (read by the " +
        "untimed runs first). Throughput is the tree's file bytes over the median time.",
      `Rounds interleave the four tools, the order rotating each round.`,
    ];
    const cpioNote = refused.length
      ? `${refused.length} entries are left out of both cpio archives, because netboot's writeCpio refuses names ` +
        `that are not printable ASCII and this tree has them: ${refused.map((e) => `\`${e.path}\``).join(', ')} ` +
        '(from ca-certificates). So netboot cannot pack this Debian rootfs as cpio as it stands.'
      : 'Every entry of the tree is in both archives.';
    return [
      {
        name: heading('newc cpio'),
        baseline: gnuCpio.cmd.label,
        rows: [gnuCpio, netbootCpio].map((t) => row(t, fs)),
        detailHead: 'archive size; throughput',
        target: {
          label: "netboot's newc cpio at least 0.7x GNU cpio's throughput (time within 1.43x)",
          tool: netbootCpio.cmd.label,
          baseline: gnuCpio.cmd.label,
          factor: FACTOR,
        },
        notes: [cpioNote, `GNU cpio: \`cpio -o -H newc --quiet < list > archive\` (${versionOf('cpio')}).`, ...common],
      },
      {
        name: heading('tar'),
        baseline: bsdtar.cmd.label,
        rows: [bsdtar, netbootTar].map((t) => row(t, fs)),
        detailHead: 'archive size; throughput',
        target: {
          label: "netboot's tar at least 0.7x bsdtar's throughput (time within 1.43x)",
          tool: netbootTar.cmd.label,
          baseline: bsdtar.cmd.label,
          factor: FACTOR,
        },
        notes: [
          `bsdtar: \`bsdtar -cf archive -n -T list\` (${versionOf('bsdtar')}), its default format (restricted ` +
            "pax); netboot's tar-stream writes ustar, with pax records only where needed. All " +
            `${entries.length.toLocaleString('en-US')} entries in both.`,
          ...common,
        ],
      },
    ];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The names netboot's writers would use (prefix ''), sorted as they sort them, one a line. */
function writeList(file: string, entries: ManifestEntry[]): string {
  const names = entries.map((e) => archiveName(e.path, '')).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.some((n) => n.includes('\n')))
    throw new BenchAbort('archives: a name in the tree holds a newline; it cannot go into a name list');
  writeFileSync(file, `${names.join('\n')}\n`);
  return file;
}

function row(t: Tool, fs: Rootfs): Row {
  const mbps = fs.bytes / 1e6 / (median(t.samples) / 1000);
  return { tool: t.cmd.label, samples: t.samples, detail: `${(t.bytes / 1e6).toFixed(0)} MB; ${mbps.toFixed(0)} MB/s` };
}

function versionOf(tool: string): string {
  const r = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0].trim() : 'version unknown';
}

function fsType(dir: string): string {
  const r = spawnSync('findmnt', ['-n', '-o', 'FSTYPE', '--target', dir], { encoding: 'utf8' });
  return `file system ${r.status === 0 ? r.stdout.trim() : 'unknown'}`;
}
