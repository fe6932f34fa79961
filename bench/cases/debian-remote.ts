import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  BenchAbort,
  type BenchContext,
  type CaseResult,
  median,
  netboot,
  progress,
  type Row,
  removeTree,
  settle,
  skipDebian,
  stageFixture,
  timeSpawned,
} from '../lib.js';
import { TestRegistry } from '../registry.js';

const HOST = 'bullseye-nbd';
type Step = { step: string; key: string; outcome: string; outputs: unknown; durationMs: number };

/**
 * Builder B's build of the default Debian host from a registry, next to builder A's cold local
 * build of it in the same round: A builds with an empty cache and pushes (`cache push`), B has an
 * empty cache of its own and pulls every step. Each round is two fresh projects and a fresh registry.
 */
export async function debianRemote(ctx: BenchContext): Promise<CaseResult> {
  const name = 'debian-remote: builder B from an OCI registry next to a cold local build';
  const skipped = skipDebian(name);
  if (skipped) return skipped;
  const runs = Number(process.env.BENCH_DEBIAN_RUNS || 1);
  const cold: Row = { tool: 'netboot build (cold, local)', samples: [] };
  const pulled: Row = { tool: 'netboot build (builder B, from the registry)', samples: [] };
  const pushMs: number[] = [];
  const split: string[] = [];
  for (let i = 0; i < runs; i++) {
    const registry = new TestRegistry();
    const a = await stageFixture(ctx.root, 'debian');
    const b = await stageFixture(ctx.root, 'debian');
    try {
      await registry.start();
      const env = { ...ctx.env, NBD_KERNEL_ARGS: '', NBD_PACKAGES: '' };
      const remote = { ...env, BENCH_REMOTE: registry.url() };
      progress('debian-remote', `round ${i + 1} of ${runs}: builder A, cold`);
      settle();
      const built = await timeSpawned(netboot(ctx, a, ['build', HOST, '--json', '--no-remote']), env);
      cold.samples.push(built.ms);
      progress('debian-remote', `round ${i + 1} of ${runs}: builder A pushes`);
      pushMs.push((await timeSpawned(netboot(ctx, a, ['cache', 'push', HOST, '--json']), remote)).ms);
      progress('debian-remote', `round ${i + 1} of ${runs}: builder B, empty cache, from the registry`);
      settle();
      const profile = join(ctx.root, '.netboot', 'bench', 'debian-remote-b.profile.json');
      mkdirSync(dirname(profile), { recursive: true });
      const b1 = await timeSpawned(netboot(ctx, b, ['build', HOST, '--json', '--profile', profile]), remote);
      // server-configs names each project's absolute SAN paths, so its key is B's own and it runs.
      // Every other step has A's key: pulled if B delivers it, else left in the registry (top-down).
      const want = new Map(stepsOf(built.stdout).map((s) => [s.step, s]));
      const mine = stepsOf(b1.stdout);
      for (const s of mine) {
        const a1 = want.get(s.step);
        if (a1?.key !== s.key) continue;
        if (!['remote', 'unpulled'].includes(s.outcome) || JSON.stringify(s.outputs) !== JSON.stringify(a1.outputs))
          throw new BenchAbort(
            `debian-remote: builder B's ${s.step} was ${s.outcome}, not A's outputs from the registry`,
          );
      }
      pulled.samples.push(b1.ms);
      const of = (o: string) => mine.filter((s) => s.outcome === o);
      const secs = (s: Step) => `${s.step} ${(s.durationMs / 1000).toFixed(1)} s`;
      split.push(
        `pulled: ${of('remote').map(secs).join(', ')}; ran: ${of('ran').map(secs).join(', ')}; ` +
          `left in the registry: ${of('unpulled').length} (${of('unpulled')
            .map((s) => s.step)
            .join(', ')})`,
      );
    } finally {
      await registry.remove();
      await removeTree(a);
      await removeTree(b);
    }
  }
  return {
    name: `${name} (N=${runs}; BENCH_DEBIAN_RUNS sets it)`,
    baseline: cold.tool,
    rows: [
      cold,
      { ...pulled, detail: `A's cache push before it: ${(median(pushMs) / 1000).toFixed(1)} s, not counted` },
    ],
    detailHead: 'detail',
    target: {
      label: "builder B's build within 0.1x of a cold build",
      tool: pulled.tool,
      baseline: cold.tool,
      factor: 0.1,
    },
    notes: [
      "Host: bench/fixtures/debian bullseye-nbd. Registry: Debian's docker-registry (CNCF distribution) on " +
        '127.0.0.1, filesystem storage on the same disk, plain HTTP (`insecure`). Builder B checks that every step ' +
        "with A's key came from the registry with A's outputs: pulled (remote) if B delivers it (published), else " +
        'left there (unpulled: its record gives the digests the keys below it need). server-configs, whose configs ' +
        "name each project's absolute SAN paths, has a key of its own and runs. Outputs go up zstd-compressed " +
        '(`zstd -3 -T0`); the 2 GiB image is pulled through `zstd -d`, sparse. B runs with `--profile` ' +
        '(.netboot/bench/debian-remote-b.profile.json).',
      ...split.map((s, i) => `Builder B, round ${i + 1}: ${s}.`),
    ],
  };
}

function stepsOf(stdout: string): Step[] {
  const out = JSON.parse(stdout) as { ok: boolean; steps: Step[] };
  if (!out.ok) throw new BenchAbort('debian-remote: a build failed');
  return out.steps;
}
