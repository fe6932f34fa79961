import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errors, isNetbootError } from '../../base/errors.js';
import { writeFileAtomic } from '../../cache/atomic.js';
import { tryAcquire } from '../../cache/lock.js';
import type { HostGraph } from '../../core/graph.js';
import type { TargetName } from '../../core/recipe.js';
import type { StepReport } from '../../core/reporter.js';
import { type DiffSide, diffSides, liveId, releaseSide } from '../../publish/diff.js';
import { SWITCH_ORDER } from '../../publish/publisher.js';
import type { Target } from '../../publish/target.js';
import { withTargets } from '../../publish/targets.js';
import type { Command, CommandContext, Parsed } from '../command.js';
import { type HostResult, hintFor, type NightlyReport, reportOk, reportText } from '../nightly-report.js';
import { units, writeUnits } from '../nightly-timer.js';
import { Session } from '../session.js';
import { bootBeforeSwitch, consoleOf, type StagedBoot } from '../staged-boot.js';
import { buildOptions, runEngine } from './build.js';
import { publishOne, publishSiteLocked } from './publish.js';

export const nightly: Command = {
  summary:
    'Build every host (one failure stops no other), boot-test each new release before it goes live, publish ' +
    'what boots, prune, and report (stdout, nightly.report, nightly.notify). Exit 1 if any host failed.',
  usage:
    'netboot nightly [host...] [--json] [--jobs N] [--offline] [--no-remote]' +
    ' | --install-timer [--unit-dir DIR (default /etc/systemd/system)]',
  options: {
    jobs: buildOptions.jobs,
    offline: buildOptions.offline,
    'no-remote': buildOptions['no-remote'],
    'install-timer': { type: 'boolean' },
    'unit-dir': { type: 'string' },
  },
  async run(args, ctx) {
    const session = await Session.open({
      config: args.values.config as string | undefined,
      cwd: ctx.io.cwd,
      warn: ctx.warn,
    });
    if (args.values['install-timer']) return installTimer(args, ctx, session);
    if (args.values['unit-dir']) throw errors.badOption('--unit-dir goes with --install-timer');
    const lock = await lockNightly(join(session.cache.dir('locks'), 'nightly.lock'));
    try {
      return await runNightly(args, ctx);
    } catch (e) {
      // A run that could not even start building (the cache locked by gc, a recipe that throws):
      // still a report, and still a notification. Config errors are found above, before the lock.
      if (!isNetbootError(e) || e.code === 'INTERRUPTED' || e.kind === 'usage') throw e;
      const error = { code: e.code, message: e.message, details: e.details };
      const report: NightlyReport = { ...emptyReport(session), ok: false, changed: true, error };
      await finish(report, session, ctx, false);
      throw e;
    } finally {
      await lock();
    }
  },
};

async function runNightly(args: Parsed, ctx: CommandContext): Promise<number> {
  const startedAt = new Date().toISOString();
  const all = args.positionals.length === 0;
  // Every host is built; a failing one fails only its own steps (--keep-going), and a host whose
  // upstream index cannot be pinned stays unpinned (its fetch steps fail, with what to do).
  const build: Parsed = { ...args, values: { ...args.values, 'keep-going': true } };
  const { session, graphs, reports } = await runEngine(build, ctx, 'build', args.positionals, all, true);
  const hosts: HostResult[] = [];
  await withTargets(session.config.san, session.cache, async (targets) => {
    for (const g of graphs) hosts.push(await nightlyHost(session, ctx, g, reports, targets));
  });
  // The site is made of the live hosts' configs only, so a failed or boot-failed host leaves its
  // old entries in it: it is published whatever happened to the others.
  try {
    await publishSiteLocked(session, ctx);
  } catch (e) {
    if (isNetbootError(e) && e.code === 'INTERRUPTED') throw e;
    hosts.push(failedResult(session, 'site', e));
  }
  const report: NightlyReport = {
    ...emptyReport(session, startedAt),
    ok: reportOk(hosts),
    changed: hosts.some((h) => h.status !== 'unchanged'),
    hosts,
  };
  return finish(report, session, ctx, !!args.values.json);
}

function emptyReport(session: Session, startedAt = new Date().toISOString()): NightlyReport {
  return {
    format: 'netboot.nightly-report/1',
    startedAt,
    finishedAt: new Date().toISOString(),
    config: session.config.file,
    ok: true,
    changed: false,
    hosts: [],
  };
}

/** Writes the report (file, stdout) and notifies: the exit code. */
async function finish(report: NightlyReport, session: Session, ctx: CommandContext, json: boolean): Promise<number> {
  const text = reportText(report);
  const dir = session.config.nightly.report;
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'last.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFileAtomic(join(dir, 'last.txt'), text);
  if (json) ctx.io.out(JSON.stringify(report, null, 2));
  else if (!report.error) ctx.io.out(text.trimEnd());
  const notify = session.config.nightly.notify;
  if (notify && report.changed) {
    const why = await runNotify(notify, text, session.config.dir);
    if (why) {
      const e = errors.notifyFailed(notify, why);
      ctx.io.err(`netboot: error [${e.code}]: ${e.message}`);
      return 1;
    }
  }
  return report.ok ? 0 : 1;
}

/** Publishes one host that built, with its boot test before the switch; or says why it did not. */
async function nightlyHost(
  session: Session,
  ctx: CommandContext,
  g: HostGraph,
  reports: StepReport[],
  all: Record<TargetName, Target>,
): Promise<HostResult> {
  const host = g.host.name;
  const mine = reports.filter((r) => r.host === host);
  const failed = mine.find((r) => r.outcome === 'failed') ?? mine.find((r) => r.outcome === 'skipped');
  if (failed) return failedResult(session, host, failed.error, failed.step);
  const targets = SWITCH_ORDER.map((n) => all[n]);
  const live = await liveId(host, targets);
  const firmwares = session.config.nightly.bootTest[host] ?? [];
  let staged: string | undefined;
  const boot: StagedBoot = {
    firmwares,
    timeout: session.config.nightly.bootTimeout,
    live: live ?? '',
    out: (l) => ctx.io.err(`netboot: ${l}`),
    passed: [],
  };
  const test = firmwares.length ? bootBeforeSwitch(session, ctx, boot) : undefined;
  try {
    const res = await publishOne(session, g, reports, all, ctx, {
      freshDisk: false,
      verify: false,
      beforeSwitch: async (s) => {
        staged = s.id;
        await test?.(s);
      },
    });
    if (!res.changed) return { host, status: 'unchanged', ...(live ? { release: live } : {}) };
    return {
      host,
      status: 'published',
      release: res.id!,
      ...(live ? { previous: live } : {}),
      diff: await releaseDiff(session, host, live, res.id!, targets),
      bootTests: boot.passed,
    };
  } catch (e) {
    if (isNetbootError(e) && e.code === 'BOOT_TEST_FAILED' && staged) {
      const cause = e.cause;
      return {
        host,
        status: 'boot-failed',
        release: staged,
        ...(live ? { live } : {}),
        firmware: firmwares[boot.passed.length],
        reason: isNetbootError(cause) ? cause.message : e.message,
        console: consoleOf(e),
        diff: await releaseDiff(session, host, live, staged, targets),
      };
    }
    if (isNetbootError(e) && e.code === 'INTERRUPTED') throw e;
    return failedResult(session, host, e);
  }
}

async function releaseDiff(session: Session, host: string, from: string | undefined, to: string, targets: Target[]) {
  const none: DiffSide = { label: 'nothing', targets: {} };
  const a = from ? await releaseSide(host, from, targets, session.cache) : none;
  const d = diffSides(host, a, await releaseSide(host, to, targets, session.cache));
  // Counts and bytes only: an NFS root's paths would be thousands of lines (`netboot diff --files` lists them).
  return { ...d, files: d.files.map(({ paths, ...t }) => t) };
}

function failedResult(session: Session, host: string, e: unknown, step?: string): HostResult {
  const ne = isNetbootError(e) ? e : undefined;
  const code = ne?.code ?? 'INTERNAL';
  const hint = hintFor(code, host);
  return {
    host,
    status: 'failed',
    code,
    message: ne?.message ?? String((e as Error)?.message ?? e ?? 'a step it depends on failed'),
    details: ne?.details ?? [],
    ...(step ? { step, log: join(session.cache.dir('logs'), host, `${step}.log`) } : {}),
    ...(hint ? { hint } : {}),
  };
}

/** `sh -c notify` with the report on stdin: undefined, or why it failed. */
function runNotify(cmd: string, text: string, cwd: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', cmd], { cwd, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => resolve(e.message));
    child.on('close', (code) =>
      resolve(code === 0 ? undefined : `exit ${code}${err.trim() ? `: ${err.trim().split('\n').pop()}` : ''}`),
    );
    child.stdin.on('error', () => {}); // a command that does not read its stdin
    child.stdin.end(text);
  });
}

/** One nightly at a time: the cache's lock file, without waiting; a dead owner's lock is taken over. */
async function lockNightly(path: string): Promise<() => Promise<void>> {
  const got = await tryAcquire(path);
  if ('owner' in got) throw errors.nightlyLocked(path, got.owner.split(' ')[0]);
  return () => got.lock.release();
}

async function installTimer(args: Parsed, ctx: CommandContext, session: Session): Promise<number> {
  const dir = (args.values['unit-dir'] as string | undefined) ?? '/etc/systemd/system';
  // The CLI entry this process runs (bin/netboot.js): the service runs the same one.
  const files = await writeUnits(dir, units(session.config, process.execPath, realpathSync(process.argv[1])));
  for (const f of files) ctx.io.out(`wrote ${f}`);
  ctx.io.out(`enable it with: systemctl daemon-reload && systemctl enable --now netboot-nightly.timer`);
  return 0;
}
