// The benchmark harness: `npm run bench`. It measures and reports; it never fails on a slow number,
// only when a measurement would be meaningless (a command failed, a no-op build did work).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, type as osType, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { boot } from './cases/boot.js';
import { debian } from './cases/debian.js';
import { debianRemote } from './cases/debian-remote.js';
import { debianUpdate } from './cases/debian-update.js';
import { nightly } from './cases/nightly.js';
import { noopBuild } from './cases/noop.js';
import { publish } from './cases/publish.js';
import { remoteTree } from './cases/remote-tree.js';
import { rootfsArchives } from './cases/rootfs-archives.js';
import { rootfsDigest } from './cases/rootfs-digest.js';
import {
  BenchAbort,
  type BenchCase,
  type BenchContext,
  type CaseResult,
  median,
  min,
  type Row,
  repoRoot,
} from './lib.js';

/**
 * Every case, in report order, by the name BENCH_ONLY selects it with. A case stages its own
 * fixture and returns rows timed against its own baseline.
 */
const CASES: [string, BenchCase][] = [
  ['noop', noopBuild],
  ['digest', rootfsDigest],
  ['archives', rootfsArchives],
  ['publish', publish],
  ['remote-tree', remoteTree],
  ['debian', debian],
  ['debian-update', debianUpdate],
  ['debian-remote', debianRemote],
  ['boot', boot],
  ['nightly', nightly],
];

/** BENCH_ONLY=digest,archives runs those cases only: for working on one case without waiting for the rest. */
function selected(): { cases: [string, BenchCase][]; partial: boolean } {
  const v = process.env.BENCH_ONLY;
  if (v === undefined || v.trim() === '') return { cases: CASES, partial: false };
  const names = v
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !CASES.some(([c]) => c === n));
  if (unknown.length)
    throw new BenchAbort(`BENCH_ONLY names ${unknown.join(', ')}; the cases are ${CASES.map(([c]) => c).join(', ')}`);
  return { cases: CASES.filter(([c]) => names.includes(c)), partial: true };
}

interface Stats {
  tool: string;
  detail?: string;
  min: number;
  median: number;
  /** Median to median and min to min: medians for the verdict, mins as the least noisy view. */
  ratioMedian: number;
  ratioMin: number;
}

function stats(c: CaseResult): Stats[] {
  const base = c.rows.find((r) => r.tool === c.baseline);
  if (!base) throw new BenchAbort(`case "${c.name}" has no row for its baseline "${c.baseline}"`);
  const bMin = min(base.samples);
  const bMed = median(base.samples);
  return c.rows.map((r: Row) => {
    const s = { tool: r.tool, detail: r.detail, min: min(r.samples), median: median(r.samples) };
    return { ...s, ratioMedian: s.median / bMed, ratioMin: s.min / bMin };
  });
}

function verdict(c: CaseResult, st: Stats[]): string | undefined {
  const t = c.target;
  if (!t) return undefined;
  const tool = st.find((s) => s.tool === t.tool);
  const base = st.find((s) => s.tool === t.baseline);
  if (!tool || !base) throw new BenchAbort(`case "${c.name}": target names a tool it did not time`);
  const ratio = tool.median / base.median;
  const minRatio = tool.min / base.min;
  return (
    `target: ${t.label}: ${ratio <= t.factor ? 'met' : 'missed'} (median ratio ${ratio.toFixed(2)}x, min ` +
    `ratio ${minRatio.toFixed(2)}x)`
  );
}

const ms = (x: number) => x.toFixed(1);
// Two significant digits below 0.1x: a cached rebuild next to a full one would otherwise read 0.00x.
const x = (r: number) => (r >= 0.1 ? r.toFixed(2) : r.toPrecision(2));
const ratio = (s: Stats) => `${x(s.ratioMedian)}x (min ${x(s.ratioMin)}x)`;
const HEAD = ['tool', 'min ms', 'median ms', 'ratio to baseline'];

function cells(c: CaseResult, st: Stats[]): string[][] {
  return st.map((s) => [s.tool, ms(s.min), ms(s.median), ratio(s), ...(c.detailHead ? [s.detail ?? ''] : [])]);
}

function textTable(c: CaseResult, st: Stats[]): string {
  const head = [...HEAD.slice(0, 3), `ratio to ${c.baseline}`, ...(c.detailHead ? [c.detailHead] : [])];
  const body = cells(c, st);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  // Numbers right-aligned so digits line up; the tool name left-aligned.
  // The detail column (last, if any) is text too: left-aligned.
  const left = (i: number) => i === 0 || (!!c.detailHead && i === head.length - 1);
  const line = (r: string[]) =>
    r
      .map((x, i) => (left(i) ? x.padEnd(width[i]) : x.padStart(width[i])))
      .join('  ')
      .trimEnd();
  return [line(head), width.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function markdownTable(c: CaseResult, st: Stats[]): string {
  const head = [...HEAD.slice(0, 3), `ratio to \`${c.baseline}\``, ...(c.detailHead ? [c.detailHead] : [])];
  // A `|` in a cell (a shell pipeline as a tool name) would end the cell, code span or not.
  const row = (r: string[]) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  const align = `| --- | ---: | ---: | ---: |${c.detailHead ? ' --- |' : ''}`;
  return [row(head), align, ...cells(c, st).map((r) => row([`\`${r[0]}\``, ...r.slice(1)]))].join('\n');
}

function machine(): string[] {
  const cpu = cpus();
  return [
    `- CPU: ${cpu[0]?.model.trim() ?? 'unknown'} (${cpu.length} cores)`,
    `- memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- kernel: ${osType()} ${release()}`,
    `- node: ${process.version}`,
    // Other work on the machine slows every tool, not always alike: a busy start is worth knowing.
    `- load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')} (1, 5, 15 min)`,
  ];
}

function runsFromEnv(): { runs: number; runsSet: boolean } {
  const v = process.env.BENCH_RUNS;
  if (v === undefined || v === '') return { runs: 20, runsSet: false };
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new BenchAbort(`BENCH_RUNS="${v}" is not a positive integer`);
  return { runs: n, runsSet: true };
}

/**
 * Variables that add a fixed cost to every node start, baseline included, so they flatter every
 * ratio: NODE_EXTRA_CA_CERTS makes node parse a CA bundle before running anything (~40 ms, more
 * than node's own startup, where this was written). BENCH_KEEP_ENV=1 measures with them anyway.
 */
const STARTUP_VARS = ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS'];

function childEnv(): { env: NodeJS.ProcessEnv; removed: string[] } {
  // CI=true: netboot prints plain lines rather than drawing progress, whatever the terminal.
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
  if (process.env.BENCH_KEEP_ENV === '1') return { env, removed: [] };
  const removed = STARTUP_VARS.filter((v) => env[v] !== undefined);
  for (const v of removed) delete env[v];
  return { env, removed };
}

async function main(): Promise<void> {
  const root = repoRoot();
  const { env, removed } = childEnv();
  const ctx: BenchContext = { root, ...runsFromEnv(), env };
  const { cases, partial } = selected();
  const envLine =
    'Child environment: CI=true' +
    (removed.length ? `; removed ${removed.map((v) => `\`${v}\``).join(', ')} (BENCH_KEEP_ENV=1 keeps them)` : '');
  // Ctrl-C reaches the timed child too; its non-zero exit then aborts through the cases' cleanup,
  // which the default handler (exit at once) would skip, leaving temp dirs behind.
  process.on('SIGINT', () => {});

  const date = new Date().toISOString();
  const runsLine =
    `Runs per tool (N): ${ctx.runs}` +
    (ctx.runsSet ? ' (BENCH_RUNS)' : ' (default; a slow case may name a smaller default of its own, in its heading)');
  const only = partial ? [`Partial run: BENCH_ONLY=${process.env.BENCH_ONLY}`, ''] : [];
  const md = [
    '# netboot benchmarks',
    '',
    ...only,
    '## Machine',
    '',
    ...machine(),
    '',
    `Date: ${date}`,
    '',
    runsLine,
    '',
    envLine,
    '',
  ];
  console.log(`netboot bench: ${runsLine}\n${machine().join('\n')}\n${envLine.replace(/`/g, '')}\n`);
  for (const [, bench] of cases) {
    for (const c of [await bench(ctx)].flat()) {
      if (c.skipped) {
        console.log(`${c.name}: skipped (${c.skipped})\n`);
        md.push(`## ${c.name}`, '', `Skipped: ${c.skipped}.`, '');
        continue;
      }
      const st = stats(c);
      const v = verdict(c, st);
      console.log(`${c.name}\n${textTable(c, st)}${v ? `\n${v}` : ''}\n`);
      md.push(`## ${c.name}`, '', markdownTable(c, st), '');
      if (v) md.push(v, '');
      for (const n of c.notes ?? []) md.push(`- ${n}`);
      if (c.notes?.length) md.push('');
    }
  }
  md.push(
    'Generated by `npm run bench` (bench/run.ts). Times are wall clock per process, spawn to exit; runs of all ' +
      'tools are interleaved.',
    '',
  );
  // A partial run must not replace the full report: it goes beside the other bench state instead.
  const out = partial ? join(root, '.netboot', 'bench', 'BENCHMARKS.partial.md') : join(root, 'BENCHMARKS.md');
  if (partial) mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, md.join('\n'));
  console.log(`wrote ${out}`);
}

main().catch((e) => {
  if (e instanceof BenchAbort) console.error(`bench: ${e.message}`);
  else console.error(e);
  process.exitCode = 1;
});
