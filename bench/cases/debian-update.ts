import { join } from 'node:path';
import { AptRepo } from '../apt-repo.js';
import {
  BenchAbort,
  type BenchContext,
  type CaseResult,
  type Cmd,
  median,
  progress,
  type Row,
  removeTree,
  settle,
  skipDebian,
  stageFixture,
  timeSpawned,
} from '../lib.js';

const HOST = 'canary-nbd';
/** What a security update may re-run: the upgrade step and everything after it, never the base or the packages. */
const AFTER_UPGRADE = ['upgrade', 'extra-packages', 'package-manifest', 'customize', 'kernel', 'image', 'tftp'];
type Step = { step: string; outcome: string; durationMs: number };

/**
 * A security update, next to a cold build from the same run: the canary host (bullseye-nbd's
 * recipe plus a package from a local bullseye-security archive) is built cold, then version+1 of
 * the canary is published and the host rebuilt. Each round is a fresh project and cache.
 */
export async function debianUpdate(ctx: BenchContext): Promise<CaseResult> {
  const name = 'debian-update: the rebuild after a security update (a canary) next to a cold build';
  const skipped = skipDebian(name);
  if (skipped) return skipped;
  const runs = Number(process.env.BENCH_DEBIAN_RUNS || 1);
  const cold: Row = { tool: 'netboot build (cold)', samples: [] };
  const update: Row = { tool: 'netboot build (after a security update)', samples: [] };
  const ranSteps = new Set<string>();
  const stepMs: Record<string, number[]> = {};
  for (let i = 0; i < runs; i++) {
    const dir = await stageFixture(ctx.root, 'debian');
    const repo = new AptRepo(ctx.root, join(dir, 'security'), 'bullseye-security');
    try {
      repo.publishCanary(String(2 * i + 1));
      const url = await repo.serve();
      const env = { ...ctx.env, BENCH_SECURITY_MIRROR: url, NBD_KERNEL_ARGS: '', NBD_PACKAGES: '' };
      const cmd: Cmd = {
        label: HOST,
        file: process.execPath,
        args: [join(ctx.root, 'bin', 'netboot.js'), 'build', HOST, '--json'],
        cwd: dir,
      };
      progress('debian-update', `round ${i + 1} of ${runs}: cold build`);
      settle();
      const c = await timeSpawned(cmd, env);
      stepsOf(c.stdout, 'cold');
      cold.samples.push(c.ms);
      repo.publishCanary(String(2 * i + 2));
      progress('debian-update', `round ${i + 1} of ${runs}: after the canary's version ${2 * i + 2}`);
      settle();
      const u = await timeSpawned(cmd, env);
      for (const s of stepsOf(u.stdout, 'update')) {
        if (s.outcome !== 'ran') continue;
        if (!AFTER_UPGRADE.includes(s.step))
          throw new BenchAbort(`debian-update: ${s.step} ran after a security update (only the upgrade and after may)`);
        ranSteps.add(s.step);
        (stepMs[s.step] ??= []).push(s.durationMs);
      }
      if (!ranSteps.has('upgrade'))
        throw new BenchAbort('debian-update: the upgrade step did not run after the update');
      update.samples.push(u.ms);
    } finally {
      await repo.stop();
      await removeTree(dir);
    }
  }
  const detail = [...ranSteps].map((s) => `${s} ${(median(stepMs[s]) / 1000).toFixed(1)}`).join(', ');
  return {
    name: `${name} (N=${runs}; BENCH_DEBIAN_RUNS sets it)`,
    baseline: cold.tool,
    rows: [cold, { ...update, detail: `ran: ${detail}; the rest cached` }],
    detailHead: 'median per step that ran, s',
    target: {
      label: 'rebuild after a security update within 0.3x of a cold build',
      tool: update.tool,
      baseline: cold.tool,
      factor: 0.3,
    },
    notes: [
      'Host: bench/fixtures/debian canary-nbd: bullseye-nbd with the canary package (netboot-canary, from ' +
        'test/fixtures/apt-canary, built by dpkg-deb) from a local unsigned bullseye-security archive ' +
        '(apt-ftparchive) served on 127.0.0.1; bullseye and bullseye-updates come from deb.debian.org.',
      'Each round: a freshly staged project with an empty cache, a timed cold build, the canary bumped by one ' +
        'version, a timed rebuild. The rebuild must run the upgrade step and only steps after it (checked).',
    ],
  };
}

function stepsOf(stdout: string, label: string): Step[] {
  const out = JSON.parse(stdout) as { ok: boolean; steps: Step[] };
  if (!out.ok) throw new BenchAbort(`debian-update: the ${label} build failed`);
  return out.steps;
}
