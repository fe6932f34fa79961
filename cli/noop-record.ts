import { basename, dirname, join } from 'node:path';
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
  /** The build's report as it would print it without a terminal (rendered only for a stamp). */
  out: () => string[];
  /** Whether the run said anything on stderr (a warning): then it runs in full each time. */
  warned: boolean;
}

// netboot's own code, as it was when it loaded: a rebuild of it during a long build must not
// stamp the new code against what the old one decided.
const BUNDLE = fileURLToPath(import.meta.url);
const OWN = new Map([BUNDLE, process.argv[1]].filter(Boolean).map((f) => [f, signature(f)]));

/** Why this run's result cannot be replayed, or undefined if it can. */
function unstampable(i: StampInput): string | undefined {
  if (!i.reports.length || i.reports.some((r) => r.outcome !== 'cached')) return 'not every step was cached';
  if (i.warned) return 'it warned';
  if (i.trace.unchecked) return i.trace.unchecked;
  if (i.trace.requests !== (i.urls?.stats.hops ?? 0)) return 'it made requests its fingerprints did not';
  if (i.urls?.stats.failed) return 'an upstream URL did not answer';
  for (const [path, sig] of i.trace.files) if (racy(sig, i.trace.startNs)) return `${path} changed just before it`;
  for (const [path, sig] of OWN) if (racy(sig, i.trace.startNs) || signature(path) !== sig) return `${path} changed`;
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
  for (const [path, sig] of OWN) files[path] = sig;
  for (const path of resolutionInputs([...i.trace.files.keys(), i.configFile])) files[path] ??= signature(path);
  const stamp: Stamp = {
    version: STAMP_VERSION,
    argv: i.argv,
    cwd: i.cwd,
    configFile: i.configFile,
    files,
    env: envOf(i.trace.env, i.trace.envListed, process.env),
    envListed: i.trace.envListed,
    urls: [...(i.urls?.answers ?? [])].map(([url, a]) => ({ url, ...a })),
    out: i.out(),
  };
  await writeFileAtomic(stampPath(i.configFile, i.argv, i.cwd, BUNDLE), JSON.stringify(stamp));
  return undefined;
}

/**
 * What node's module resolution reads natively, past the trace: every package.json and
 * node_modules directory from each module's directory up (present or not), and each package's
 * own directory. A changed `main`, a package put nearer the config, is then a changed stamp.
 */
function resolutionInputs(files: string[]): Set<string> {
  const out = new Set<string>();
  const dirs = new Set<string>();
  for (const f of files) {
    if (!/\.[cm]?[jt]s$/.test(f)) continue;
    for (let d = dirname(f); !dirs.has(d); d = dirname(d)) {
      dirs.add(d);
      out.add(join(d, 'package.json'));
      out.add(join(d, 'node_modules'));
      if (basename(dirname(d)) === 'node_modules' || basename(dirname(dirname(d))) === 'node_modules') out.add(d);
      if (dirname(d) === d) break;
    }
  }
  return out;
}
