import { join } from 'node:path';
import { AptRepo } from '../apt-repo.js';
import { CountingProxy } from '../counting-proxy.js';
import {
  answered,
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
  stamped,
  timeSpawned,
} from '../lib.js';
import { describeSplits, type JsonStep, type StepSplit, splitsOf, stepLog } from '../step-profile.js';

const HOST = 'canary-nbd';
/** What a security update may re-run: the upgrade step and everything after it, never the base or the packages. */
const AFTER_UPGRADE = ['upgrade', 'extra-packages', 'package-manifest', 'customize', 'kernel', 'image', 'tftp'];
type Step = JsonStep;
/** One package more than the host has: what adding it downloads. */
const ADDED = 'tree';

/**
 * A security update, next to a cold build from the same run: the canary host (bullseye-nbd's
 * recipe plus a package from a local bullseye-security archive) is built cold, then version+1 of
 * the canary is published and the host rebuilt. Each round is a fresh project and cache.
 */
export async function debianUpdate(ctx: BenchContext): Promise<CaseResult[]> {
  const name = 'debian-update: the rebuild after a security update (a canary) next to a cold build';
  const skipped = skipDebian(name);
  if (skipped) return [skipped];
  const runs = Number(process.env.BENCH_DEBIAN_RUNS || 1);
  const cold: Row = { tool: 'netboot build (cold)', samples: [] };
  const update: Row = { tool: 'netboot build (after a security update)', samples: [] };
  const added: Row = { tool: `netboot build (one package added: ${ADDED})`, samples: [] };
  // apt fetches through it: the bytes each build downloaded, as the network saw them.
  const proxy = new CountingProxy();
  const proxyUrl = await proxy.start();
  const bytes: Record<'cold' | 'update' | 'added', { fetched: number[]; all: number[]; apt: number[] }> = {
    cold: { fetched: [], all: [], apt: [] },
    update: { fetched: [], all: [], apt: [] },
    added: { fetched: [], all: [], apt: [] },
  };
  const count = (label: keyof typeof bytes, from: number, dir: string, steps: Step[]) => {
    bytes[label].fetched.push(proxy.debs(from).bytes);
    bytes[label].all.push(proxy.requests.slice(from).reduce((n, r) => n + r.bytes, 0));
    bytes[label].apt.push(storeLines(dir, steps));
  };
  const ranSteps = new Set<string>();
  let noop: CaseResult | undefined;
  const stepMs: Record<string, number[]> = {};
  const splits: Record<string, StepSplit>[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = await stageFixture(ctx.root, 'debian');
    const repo = new AptRepo(ctx.root, join(dir, 'security'), 'bullseye-security');
    try {
      repo.publishCanary(String(2 * i + 1));
      const url = await repo.serve();
      const env = {
        ...ctx.env,
        BENCH_SECURITY_MIRROR: url,
        NBD_KERNEL_ARGS: '',
        NBD_PACKAGES: '',
        http_proxy: proxyUrl,
      };
      const cmd: Cmd = {
        label: HOST,
        file: process.execPath,
        args: [join(ctx.root, 'bin', 'netboot.js'), 'build', HOST, '--json'],
        cwd: dir,
      };
      progress('debian-update', `round ${i + 1} of ${runs}: cold build`);
      settle();
      let from = proxy.requests.length;
      const c = await timeSpawned(cmd, env);
      count('cold', from, dir, stepsOf(c.stdout, 'cold'));
      cold.samples.push(c.ms);
      repo.publishCanary(String(2 * i + 2));
      progress('debian-update', `round ${i + 1} of ${runs}: after the canary's version ${2 * i + 2}`);
      settle();
      from = proxy.requests.length;
      const u = await timeSpawned(cmd, env);
      const uSteps = stepsOf(u.stdout, 'update');
      count('update', from, dir, uSteps);
      splits.push(splitsOf(dir, uSteps));
      for (const s of uSteps) {
        if (s.outcome !== 'ran') continue;
        if (!AFTER_UPGRADE.includes(s.step))
          throw new BenchAbort(`debian-update: ${s.step} ran after a security update (only the upgrade and after may)`);
        ranSteps.add(s.step);
        (stepMs[s.step] ??= []).push(s.durationMs);
      }
      if (!ranSteps.has('upgrade'))
        throw new BenchAbort('debian-update: the upgrade step did not run after the update');
      update.samples.push(u.ms);
      progress('debian-update', `round ${i + 1} of ${runs}: ${ADDED} added`);
      settle();
      from = proxy.requests.length;
      const a = await timeSpawned(cmd, { ...env, BENCH_CANARY_PACKAGES: `netboot-canary,${ADDED}` });
      count('added', from, dir, stepsOf(a.stdout, 'one package added'));
      added.samples.push(a.ms);
      if (i === runs - 1)
        noop = await timeNoop(ctx, cmd, { ...env, BENCH_CANARY_PACKAGES: `netboot-canary,${ADDED}` }, repo);
    } finally {
      await repo.stop();
      await removeTree(dir);
    }
  }
  await proxy.stop();
  const detail = [...ranSteps].map((s) => `${s} ${(median(stepMs[s]) / 1000).toFixed(1)}`).join(', ');
  const kb = (label: keyof typeof bytes) =>
    `downloaded ${Math.round(median(bytes[label].fetched) / 1024)} KiB of .debs ` +
    `(${Math.round(median(bytes[label].all) / 1024)} KiB with apt's indexes; all steps); ` +
    `the apt steps named ${Math.round(median(bytes[label].apt) / 1024)} KiB, store and network together`;
  const update_: CaseResult = {
    name: `${name} (N=${runs}; BENCH_DEBIAN_RUNS sets it)`,
    baseline: cold.tool,
    rows: [
      { ...cold, detail: kb('cold') },
      { ...update, detail: `ran: ${detail}; the rest cached; ${kb('update')}` },
      { ...added, detail: kb('added') },
    ],
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
        'version, a timed rebuild. The rebuild must run the upgrade step and only steps after it (checked). ' +
        `Then ${ADDED} is added to the host's packages and it is rebuilt again.`,
      'Bytes: apt in every step (mmdebstrap included) fetches through a counting HTTP proxy ' +
        '(bench/counting-proxy.ts); "the apt steps named" sums what apt-get --print-uris named in the apt ' +
        "steps' logs (apt-install, upgrade; not mmdebstrap), i.e. what they would download without the store.",
      "Where the rebuild went, per step that ran (median s, from each step log's executor lines: copying the " +
        'input tree, checking the inputs unchanged afterwards, hashing the outputs into the cache): ' +
        `${describeSplits(splits, AFTER_UPGRADE)}.`,
    ],
  };
  return noop ? [update_, noop] : [update_];
}

/**
 * The no-op of a built Debian host (the canary host, 10 steps), offline and online, next to
 * `node -e 0`, interleaved. Online, each suite's InRelease (or the local archive's Release) is
 * asked once, conditionally: the local archive answers 304; deb.debian.org as this machine reaches it
 * gives no validators, so its two files come in full.
 */
async function timeNoop(ctx: BenchContext, build: Cmd, env: NodeJS.ProcessEnv, repo: AptRepo): Promise<CaseResult> {
  const args = build.args.filter((a) => a !== '--json');
  const offline: Cmd = {
    label: `netboot build ${HOST} --offline (no-op)`,
    file: process.execPath,
    args: [...args.slice(0, 3), '--offline'],
    cwd: build.cwd,
  };
  const online: Cmd = {
    label: `netboot build ${HOST} (no-op, online)`,
    file: process.execPath,
    args: args.slice(0, 3),
    cwd: build.cwd,
  };
  const engine: Cmd = {
    ...offline,
    label: `${offline.label.replace(')', ', no stamp)')}`,
    env: { NETBOOT_FAST_NOOP: '0' },
  };
  const cmds: Cmd[] = [
    { label: 'node -e 0', file: process.execPath, args: ['-e', '0'], cwd: build.cwd },
    offline,
    online,
    engine,
  ];
  progress('debian-update', 'no-op builds of the canary host');
  for (const c of [offline, online]) await stamped(c, env);
  const rows: Row[] = cmds.map((c) => ({ tool: c.label, samples: [] }));
  const runs = Math.max(ctx.runs, 5);
  const before = repo.requests.length;
  for (let i = 0; i < runs; i++)
    for (let j = 0; j < cmds.length; j++) {
      const k = (i + j) % cmds.length;
      const r = await timeSpawned(cmds[k], env);
      if (k > 0 && !/0 ran/.test(r.stdout))
        throw new BenchAbort(`debian-update: ${cmds[k].label} ran a step:\n${r.stdout}`);
      rows[k].samples.push(r.ms);
    }
  // Still answered from their stamps after the timed runs: none of them was a build in disguise.
  for (const c of [offline, online]) await answered(c, env);
  const asked = repo.requests.slice(before);
  const perOnline = asked.length / runs;
  return {
    name: `no-op build of a built Debian host (${HOST}: 10 steps, 4 suites on 2 mirrors)`,
    baseline: 'node -e 0',
    rows: [
      rows[0],
      rows[1],
      {
        ...rows[2],
        detail:
          `local archive: ${perOnline} request(s) per online build, ` +
          `${asked.filter((r) => r.status === 304).length} of ${asked.length} answered 304`,
      },
      rows[3],
    ],
    detailHead: 'requests',
    target: {
      label: 'no-op within 2x of `node -e 0` (--offline)',
      tool: offline.label,
      baseline: 'node -e 0',
      factor: 2,
    },
    notes: [
      'The two no-op rows are answered from their no-op stamps (checked before and after the timed runs); the ' +
        '"no stamp" row is the same --offline build with NETBOOT_FAST_NOOP=0: the engine deciding. Online, the ' +
        'stamp asks each upstream file it recorded again, all at once (one round trip): the local archive ' +
        'answers 304; deb.debian.org as this machine reaches it gives no validators, so its InRelease files come ' +
        'in full. The local archive counts every request, the engine rows (offline) make none.',
    ],
  };
}

/** What the apt steps that ran would have downloaded: their logs' `downloads:` lines, store and network together. */
function storeLines(dir: string, steps: Step[]): number {
  let n = 0;
  for (const s of steps) {
    if (s.outcome !== 'ran' || !s.key) continue;
    for (const m of stepLog(dir, s.key).matchAll(
      /^downloads: \d+ packages \((\d+) bytes\) from the store, \d+ fetched \((\d+) bytes/gm,
    ))
      n += Number(m[1]) + Number(m[2]);
  }
  return n;
}

function stepsOf(stdout: string, label: string): Step[] {
  const out = JSON.parse(stdout) as { ok: boolean; steps: Step[] };
  if (!out.ok) throw new BenchAbort(`debian-update: the ${label} build failed`);
  return out.steps;
}
