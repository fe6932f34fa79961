import { join } from 'node:path';
import {
  answered,
  BenchAbort,
  type BenchContext,
  type CaseResult,
  type Cmd,
  runChecked,
  stamped,
  timeInterleaved,
  withFixture,
} from '../lib.js';

const HOSTS = 3;
const STEPS_PER_HOST = 10;

/**
 * A build with nothing to do: the cost a user pays on every `netboot build` after an edit that
 * changed nothing, compared with starting node at all and with make walking the same graph.
 * Twice: answered from the no-op stamp (cli/noop-stamp.ts, the default), and by the engine
 * (NETBOOT_FAST_NOOP=0), which is what any build pays when something did change.
 */
export async function noopBuild(ctx: BenchContext): Promise<CaseResult> {
  return withFixture(ctx.root, 'noop', async (dir) => {
    const config = join(dir, 'netboot.config.ts');
    const node: Cmd = { label: 'node -e 0', file: process.execPath, args: ['-e', '0'], cwd: dir };
    const args = [join(ctx.root, 'bin', 'netboot.js'), 'build', '--all', '--config', config];
    const netboot: Cmd = { label: 'netboot build --all (no-op)', file: process.execPath, args, cwd: dir };
    const engine: Cmd = { ...netboot, label: 'netboot build --all (no-op, no stamp)', env: { NETBOOT_FAST_NOOP: '0' } };
    const make: Cmd = { label: 'make (no-op)', file: 'make', args: ['-f', join(dir, 'Makefile')], cwd: dir };

    // The first build runs every step and compiles the config; only later builds are no-ops.
    runChecked(netboot, ctx.env);
    expectNoop(runChecked(engine, ctx.env));
    await stamped(netboot, ctx.env);
    runChecked(make, ctx.env);
    // `make -q` exits 0 only when every target is up to date: proof the timed runs touch nothing.
    runChecked({ ...make, label: 'make -q', args: ['-q', ...make.args] }, ctx.env);

    const rows = timeInterleaved([node, netboot, engine, make], ctx.runs, ctx.env);
    // Still answered from the stamp after the timed runs: none of them was a build in disguise.
    expectNoop(await answered(netboot, ctx.env));
    return {
      name: `no-op build (${HOSTS} hosts x ${STEPS_PER_HOST} steps, warm cache)`,
      baseline: node.label,
      rows,
      target: { label: 'no-op build within 2x of `node -e 0`', tool: netboot.label, baseline: node.label, factor: 2 },
      notes: [
        '`netboot build --all (no-op)` is answered from the no-op stamp: bin/netboot.js loads dist/fast-noop.js ' +
          '(5 KB, node builtins only) and compares what the last build that found every step cached read (every ' +
          'file by lstat: device, inode, size, mode, mtime and ctime in ns; the environment variables it looked at; ' +
          'upstream URLs, none here) before it would load the engine. Checked before and after the timed runs ' +
          '(NETBOOT_FAST_NOOP=why).',
        '`(no-op, no stamp)`: NETBOOT_FAST_NOOP=0, the engine deciding (config, keys, cache lookups, damage checks): ' +
          'what a build pays on top of its steps when something changed.',
      ],
    };
  });
}

/** A warm build that still ran something would time the wrong thing, so that stops the bench. */
function expectNoop(stdout: string): void {
  const m = /(\d+) steps: (\d+) ran, (\d+) cached/.exec(stdout);
  const want = HOSTS * STEPS_PER_HOST;
  if (!m || Number(m[1]) !== want || Number(m[2]) !== 0 || Number(m[3]) !== want)
    throw new BenchAbort(
      `no-op build: expected "${want} steps: 0 ran, ${want} cached" from the second build, got:\n${stdout.trim()}`,
    );
}
