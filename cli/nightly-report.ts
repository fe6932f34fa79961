import type { HostDiff, TargetDiff } from '../publish/diff.js';
import { diffLines } from './diff-text.js';

/** A diff as the report carries it: counts and bytes per target, no paths. */
export type ReportDiff = Omit<HostDiff, 'files'> & { files: Omit<TargetDiff, 'paths'>[] };

/** What the nightly did to one host. */
export type HostResult =
  | { host: string; status: 'unchanged'; release?: string }
  | { host: string; status: 'published'; release: string; previous?: string; diff?: ReportDiff; bootTests: string[] }
  | {
      host: string;
      status: 'failed';
      code: string;
      message: string;
      details: string[];
      step?: string;
      log?: string;
      hint?: string;
    }
  | {
      host: string;
      status: 'boot-failed';
      release: string;
      live?: string;
      firmware: string;
      reason: string;
      console: string[];
      diff?: ReportDiff;
    };

export interface NightlyReport {
  format: 'netboot.nightly-report/1';
  startedAt: string;
  finishedAt: string;
  config: string;
  ok: boolean;
  /** Something to tell: a host has a new release, failed, or failed its boot test. */
  changed: boolean;
  hosts: HostResult[];
  /** The run stopped before any host was built (the cache locked, a recipe that threw). */
  error?: { code: string; message: string; details: string[] };
}

export const reportOk = (hosts: HostResult[]) =>
  hosts.every((h) => h.status === 'unchanged' || h.status === 'published');

/** The report as mail-friendly text: one paragraph per host. */
export function reportText(r: NightlyReport): string {
  const out = [
    `netboot nightly ${r.startedAt} (${r.config}): ${r.ok ? 'ok' : 'FAILED'}; ` +
      `${count(r, 'published')} published, ${count(r, 'unchanged')} unchanged, ` +
      `${count(r, 'failed')} failed, ${count(r, 'boot-failed')} failed the boot test`,
  ];
  if (r.error)
    out.push('', `the run stopped before building: [${r.error.code}] ${r.error.message}`, ...r.error.details);
  for (const h of r.hosts) {
    out.push('');
    out.push(...hostLines(h));
  }
  return `${out.join('\n')}\n`;
}

const count = (r: NightlyReport, s: HostResult['status']) => r.hosts.filter((h) => h.status === s).length;

function hostLines(h: HostResult): string[] {
  switch (h.status) {
    case 'unchanged':
      return [`${h.host}: unchanged${h.release ? ` (release ${h.release} stays live)` : ''}`];
    case 'published':
      return [
        `${h.host}: new release ${h.release} is live` +
          `${h.previous ? ` (was ${h.previous})` : ''}` +
          `${h.bootTests.length ? `; booted to login first (${h.bootTests.join(', ')})` : ''}`,
        ...(h.diff ? diffLines(h.diff, { indent: '  ' }) : []),
      ];
    case 'failed':
      return [
        `${h.host}: FAILED [${h.code}]${h.step ? ` in step ${h.step}` : ''}: ${h.message}`,
        ...h.details.map((d) => `  ${d}`),
        ...(h.log && !h.details.some((d) => d.includes(h.log!)) ? [`  log: ${h.log}`] : []),
        ...(h.hint ? [`  what to do: ${h.hint}`] : []),
      ];
    case 'boot-failed':
      return [
        `${h.host}: BOOT TEST FAILED (${h.firmware}): release ${h.release} was not switched in; ` +
          `${h.live ? `release ${h.live} stays live` : 'nothing is live'}`,
        `  ${h.reason}`,
        ...(h.diff ? diffLines(h.diff, { indent: '  ' }) : []),
        '  last console lines:',
        ...h.console.map((l) => `    ${l}`),
        `  what to do: fix what the diff above changed; release ${h.release} stays staged (not live) for a look ` +
          `(\`netboot releases ${h.host}\`), and the next nightly stages and boots a new one`,
      ];
  }
}

/** What a user can do about a failure, by its code (the error's own message says what and where). */
export function hintFor(code: string, host: string): string | undefined {
  switch (code) {
    case 'SOURCE_NOT_PINNED':
    case 'INDEX_INVALID':
    case 'INDEX_ENTRY_MISSING':
      return (
        `run \`netboot build ${host}\` once where its mirror is reachable (it records the digests in ` +
        'netboot.lock; commit that), or pin the sources in the config; until then the other hosts publish without it'
      );
    case 'FETCH_FAILED':
    case 'FINGERPRINT_FAILED':
      return `its upstream could not be reached: check the mirror and the network, then \`netboot build ${host}\``;
    case 'DISK_WRITTEN':
      return `the host wrote to its live disk: publish it with \`netboot publish ${host} --fresh-disk\` when ready`;
    case 'PUBLISH_NO_SPACE':
    case 'DISK_FULL':
      return 'free space (`netboot gc`, a larger disk), the next nightly retries';
    case 'RELOAD_FAILED':
      return 'the new release is live on disk; reload that server by hand';
    default:
      return undefined;
  }
}
