import { errors } from '../../base/errors.js';
import { registerBuild } from '../../cache/lock.js';
import type { HostGraph } from '../../core/graph.js';
import type { Reporter, StepReport } from '../../core/reporter.js';
import type { Command, CommandContext, Parsed } from '../command.js';
import { stampable, writeStamp } from '../noop-record.js';
import { FAST_NOOP_ENV } from '../noop-stamp.js';
import { startTrace, type TraceResult } from '../noop-trace.js';
import { outsideSources } from '../outside-sources.js';
import { listrReporter, PlainReporter } from '../progress.js';
import { Session } from '../session.js';

export interface RunResult {
  session: Session;
  graphs: HostGraph[];
  reports: StepReport[];
}

function jobsOf(v: unknown): number {
  if (v === undefined) return Session.defaultJobs();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw errors.badOption(`--jobs: "${v}" is not a positive integer`);
  return n;
}

/** Opens the session, expands the selected hosts and runs the engine in the given mode. */
export async function runEngine(
  args: Parsed,
  ctx: CommandContext,
  mode: 'build' | 'plan',
  hostsFrom: string[],
  all: boolean,
  quiet = false,
  /** Called as the first step starts to run. */
  onRun?: () => void,
): Promise<RunResult> {
  const { io, profiler } = ctx;
  const session = await Session.open({
    config: args.values.config as string | undefined,
    cwd: io.cwd,
    profiler,
    warn: ctx.warn,
  });
  const hosts = session.select(hostsFrom, all);
  if (mode === 'build' || args.values.frozen)
    await session.pin(hosts, {
      fetch: mode === 'build' && !args.values.offline,
      frozen: !!args.values.frozen,
      signal: ctx.signal,
      keepGoing: !!args.values['keep-going'],
      warn: ctx.warn,
    });
  const graphs = hosts.map((h) => session.graph(h));
  if (mode === 'build') for (const w of outsideSources(graphs, session.config.dir)) ctx.warn(w);
  const json = !!args.values.json;
  let reporter: Reporter;
  if (quiet || json) reporter = { running() {}, step() {}, replay() {}, done: async () => {} };
  else if (mode === 'build' && io.isTTY && !io.env.CI)
    reporter = await listrReporter(new Map(graphs.map((g) => [g.host.name, g.order.map((n) => n.id)])));
  else reporter = new PlainReporter(io.out);
  if (onRun) {
    const running = reporter.running.bind(reporter);
    reporter.running = (host, step) => {
      onRun();
      running(host, step);
    };
  }
  const engine = await session.engine({
    jobs: jobsOf(args.values.jobs),
    offline: !!args.values.offline,
    mode,
    keepGoing: !!args.values['keep-going'],
    verbose: !!args.values.verbose,
    verify: !!args.values.verify,
    noRemote: !!args.values['no-remote'],
    reporter,
    signal: ctx.signal,
    profiler,
  });
  const registration = mode === 'build' ? await registerBuild(session.cache.dir('locks'), ctx.signal) : undefined;
  try {
    const reports = profiler
      ? await profiler.time('engine', 'build', () => engine.run(graphs))
      : await engine.run(graphs);
    return { session, graphs, reports };
  } finally {
    await reporter.done();
    await registration?.release();
  }
}

function summary(reports: StepReport[]): string {
  const count = (o: StepReport['outcome']) => reports.filter((r) => r.outcome === o).length;
  return (
    `${reports.length} steps: ${count('ran')} ran, ${count('cached')} cached` +
    (count('remote') ? `, ${count('remote')} pulled from the remote cache` : '') +
    (count('unpulled') ? `, ${count('unpulled')} left in the remote cache` : '') +
    (count('stale') ? `, ${count('stale')} would run` : '') +
    (count('failed') ? `, ${count('failed')} failed` : '') +
    (count('skipped') ? `, ${count('skipped')} skipped` : '')
  );
}

export function reportsJson(reports: StepReport[]) {
  return reports.map((r) => ({
    host: r.host,
    step: r.step,
    plugin: r.plugin,
    outcome: r.outcome,
    key: r.key ?? null,
    durationMs: r.durationMs,
    reasons: r.reasons,
    outputs: r.outputs ?? null,
    error: r.error ? { code: r.error.code, message: r.error.message, details: r.error.details } : null,
  }));
}

export const buildOptions = {
  all: { type: 'boolean', short: 'a' },
  jobs: { type: 'string', short: 'j' },
  offline: { type: 'boolean' },
  'dry-run': { type: 'boolean', short: 'n' },
  'keep-going': { type: 'boolean', short: 'k' },
  verify: { type: 'boolean' },
  /** netboot.lock must not change: an index entry it lacks is an error (CI, reproducible builds). */
  frozen: { type: 'boolean' },
  'no-remote': { type: 'boolean' },
} as const;

export function printFailures(ctx: CommandContext, reports: StepReport[]): void {
  for (const f of reports.filter((r) => r.outcome === 'failed')) {
    ctx.io.err(`netboot: error [${f.error!.code}]: ${f.error!.message}`);
    for (const d of f.error!.details) ctx.io.err(`  ${d}`);
  }
}

/**
 * The build, watched (cli/noop-trace.ts) when it is one a stamp can answer: if every step was
 * cached, `stamp` writes what it read, so the same command next time is answered by stat alone.
 */
async function tracedRun(
  args: Parsed,
  ctx: CommandContext,
  dry: boolean,
): Promise<RunResult & { stamp?: () => Promise<string | undefined> }> {
  const argv = ctx.argv;
  const hosts = args.positionals;
  if (dry || !argv || !stampable(args, ctx.io.env))
    return await runEngine(args, ctx, dry ? 'plan' : 'build', hosts, !!args.values.all);
  let warned = false;
  const watched = {
    ...ctx,
    warn: (m: string) => {
      warned = true;
      ctx.warn(m);
    },
  };
  let trace: TraceResult;
  const t = startTrace();
  let run: RunResult;
  try {
    // A step that runs makes this no no-op: the trace stops then, rather than watch the step's reads.
    run = await runEngine(args, watched, 'build', hosts, !!args.values.all, false, () => t.stop());
  } finally {
    trace = t.stop();
  }
  const { session, reports } = run;
  const out = () => {
    const lines: string[] = [];
    const plain = new PlainReporter((l) => lines.push(l));
    for (const r of reports) plain.step({ ...r, durationMs: 0 });
    return [...lines, summary(reports)];
  };
  const cwd = ctx.io.cwd;
  const stamp = () =>
    writeStamp({ argv, cwd, configFile: session.config.file, trace, urls: session.urls, reports, out, warned });
  return { ...run, stamp };
}

export const build: Command = {
  summary: 'Build the named hosts (or --all). Steps whose key is cached do not run.',
  usage:
    'netboot build <host...> | --all [--publish [--fresh-disk]] [--jobs N] [--offline] [--dry-run] [--keep-going]' +
    ' [--verify] [--no-remote] [--json] [--verbose] [--profile FILE]',
  options: { ...buildOptions, publish: { type: 'boolean' }, 'fresh-disk': { type: 'boolean' } },
  async run(args, ctx) {
    if (args.values.publish) {
      if (args.values['dry-run']) throw errors.badOption('--publish and --dry-run do not go together');
      return (await import('./publish.js')).buildAndPublish(args, ctx);
    }
    const dry = !!args.values['dry-run'];
    const { reports, stamp } = await tracedRun(args, ctx, dry);
    const failed = reports.filter((r) => r.outcome === 'failed');
    if (args.values.json)
      ctx.io.out(JSON.stringify({ ok: failed.length === 0, dryRun: dry, steps: reportsJson(reports) }, null, 2));
    else ctx.io.out(summary(reports));
    // A stamp that cannot be written (a read-only config directory) costs only speed.
    const unstamped = await stamp?.().catch((e: Error) => e.message);
    if (unstamped && ctx.io.env[FAST_NOOP_ENV] === 'why')
      ctx.io.err(`netboot: no-op stamp: none written: ${unstamped}`);
    if (!failed.length) return 0;
    if (!args.values.json) printFailures(ctx, reports);
    return 1;
  },
};

export const status: Command = {
  summary: 'Say which steps are stale and why, without running anything.',
  usage: 'netboot status [host...] [--json] [--offline]',
  options: { offline: { type: 'boolean' } },
  async run(args, ctx) {
    const { reports } = await runEngine(args, ctx, 'plan', args.positionals, args.positionals.length === 0, true);
    if (args.values.json) {
      ctx.io.out(JSON.stringify({ steps: reportsJson(reports) }, null, 2));
      return reports.some((r) => r.outcome === 'failed') ? 1 : 0;
    }
    for (const host of [...new Set(reports.map((r) => r.host))]) {
      const mine = reports.filter((r) => r.host === host);
      const stale = mine.filter((r) => r.outcome !== 'cached' && r.outcome !== 'unpulled');
      ctx.io.out(
        `${host}: ` +
          (stale.length ? `${stale.length} of ${mine.length} steps stale` : `up to date (${mine.length} steps)`),
      );
      for (const r of stale) {
        const why = r.error ? `${r.error.code}: ${r.error.message}` : r.reasons.join('; ') || 'not in the cache';
        ctx.io.out(`  ${r.step}: ${r.outcome === 'failed' ? 'cannot tell' : 'would run'}: ${why}`);
      }
    }
    return reports.some((r) => r.outcome === 'failed') ? 1 : 0;
  },
};
