import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../cache/atomic.js';
import type { StepReport } from '../core/reporter.js';
import type { UrlDigests } from '../core/url-digests.js';
import type { Parsed } from './command.js';
import { envOf, FAST_NOOP_ENV, racy, STAMP_VERSION, type Stamp, signature, stampPath } from './noop-stamp.js';
import type { TraceResult } from './noop-trace.js';

/**
 * Only a plain build gets a stamp: one whose output is the step lines and the summary. Its
 * --json (durations), --verbose (logs), --verify (hashing) and --profile (a trace) ask for work.
 */
export function stampable(args: Parsed, env: NodeJS.ProcessEnv): boolean {
  const v = args.values;
  return (
    !(v.publish || v['dry-run'] || v.json || v.verbose || v.verify || v.profile || v.debug) &&
    env[FAST_NOOP_ENV] !== '0'
  );
}

export interface StampInput {
  argv: string[];
  cwd: string;
  configFile: string;
  trace: TraceResult;
  urls?: UrlDigests;
  reports: StepReport[];
  /** The build's report as it would print it without a terminal. */
  out: string[];
  /** Whether the run said anything on stderr (a warning): then it runs in full each time. */
  warned: boolean;
}

/** Why this run's result cannot be replayed, or undefined if it can. */
function unstampable(i: StampInput): string | undefined {
  if (!i.reports.length || i.reports.some((r) => r.outcome !== 'cached')) return 'not every step was cached';
  if (i.warned) return 'it warned';
  if (i.trace.unchecked) return i.trace.unchecked;
  if (i.trace.requests !== (i.urls?.stats.hops ?? 0)) return 'it made requests its fingerprints did not';
  for (const [path, sig] of i.trace.files) if (racy(sig, i.trace.startNs)) return `${path} changed just before it`;
  return undefined;
}

/**
 * Writes the stamp of a build that ran nothing, so that the next same command is checked by stat;
 * says why not otherwise. An older stamp stays: what it names has changed, so it no longer matches.
 */
export async function writeStamp(i: StampInput): Promise<string | undefined> {
  const why = unstampable(i);
  if (why) return why;
  const files: Record<string, string | null> = {};
  for (const [path, sig] of i.trace.files) files[path] = sig;
  // netboot's own code: an upgrade may decide differently on the same inputs.
  for (const own of [fileURLToPath(import.meta.url), process.argv[1]]) if (own) files[own] = signature(own);
  const stamp: Stamp = {
    version: STAMP_VERSION,
    argv: i.argv,
    cwd: i.cwd,
    configFile: i.configFile,
    files,
    env: envOf(i.trace.env, i.trace.envListed, process.env),
    envListed: i.trace.envListed,
    urls: [...(i.urls?.answers ?? [])].map(([url, a]) => ({ url, ...a })),
    out: i.out,
  };
  await writeFileAtomic(stampPath(i.configFile, i.argv, i.cwd), JSON.stringify(stamp));
  return undefined;
}
