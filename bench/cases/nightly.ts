import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchAbort, type BenchContext, type CaseResult, type Cmd, progress, type Row, settle } from '../lib.js';

/** The round trip a nightly cannot avoid: asking the mirror whether a suite changed (one HEAD of an InRelease). */
const MIRROR = 'http://deb.debian.org/debian/dists/bullseye-updates/InRelease';

/**
 * `netboot nightly` with nothing to do, on the default config (netboot.config.ts: bullseye-nbd,
 * and a FreeBSD host whose sets this machine cannot fetch, which fails alone with exit 1, as the
 * issue's done-when wants), next to `node -e 0` and one HEAD request to the mirror. The first
 * nightly builds and publishes bullseye-nbd cold (minutes); only the later ones are timed.
 */
export async function nightly(ctx: BenchContext): Promise<CaseResult> {
  const name = 'nightly: a no-op nightly of the default config (build, check, publish nothing, report)';
  if (process.env.BENCH_SKIP_DEBIAN === '1')
    return { name, baseline: '', rows: [], skipped: 'BENCH_SKIP_DEBIAN=1; its first run builds Debian' };
  const dir = await mkdtemp(join(tmpdir(), 'netboot-bench-nightly-'));
  try {
    await copyFile(join(ctx.root, 'netboot.config.ts'), join(dir, 'netboot.config.ts'));
    await mkdir(join(dir, 'node_modules'));
    await symlink(ctx.root, join(dir, 'node_modules', 'netboot'), 'dir');
    const cmds: Cmd[] = [
      { label: 'node -e 0', file: process.execPath, args: ['-e', '0'], cwd: dir },
      {
        label: 'curl -I (one round trip to the mirror)',
        file: 'curl',
        args: ['-sfI', '-o', '/dev/null', MIRROR],
        cwd: dir,
      },
      {
        label: 'netboot nightly (no-op)',
        file: process.execPath,
        args: [join(ctx.root, 'bin', 'netboot.js'), 'nightly', '--json'],
        cwd: dir,
      },
    ];
    progress('nightly', 'first nightly: bullseye-nbd cold (minutes)');
    expectReport(run(cmds[2], ctx.env), 'published');
    expectReport(run(cmds[2], ctx.env), 'unchanged');
    const rows: Row[] = cmds.map((c) => ({ tool: c.label, samples: [] }));
    for (let i = 0; i < ctx.runs; i++)
      for (let j = 0; j < cmds.length; j++) {
        const k = (i + j) % cmds.length;
        settle();
        const t0 = process.hrtime.bigint();
        const out = run(cmds[k], ctx.env);
        rows[k].samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (k === 2) expectReport(out, 'unchanged');
      }
    return {
      name,
      baseline: cmds[0].label,
      rows,
      target: {
        label: 'no-op nightly within 10x of one mirror round trip',
        tool: cmds[2].label,
        baseline: cmds[1].label,
        factor: 10,
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The nightly exits 1 (the FreeBSD host fails); the others must exit 0. */
function run(cmd: Cmd, env: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd.file, cmd.args, { cwd: cmd.cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ok = cmd.label.startsWith('netboot') ? r.status === 0 || r.status === 1 : r.status === 0;
  if (!ok) throw new BenchAbort(`${cmd.label} exited ${r.status}: ${(r.stderr ?? '').slice(-2000)}`);
  return r.stdout;
}

/** bullseye-nbd as expected, and the FreeBSD host failed alone (it cannot fetch its sets here). */
function expectReport(stdout: string, want: string): void {
  const report = JSON.parse(stdout) as { hosts: { host: string; status: string; code?: string }[] };
  const deb = report.hosts.find((h) => h.host === 'bullseye-nbd');
  const bsd = report.hosts.find((h) => h.host === 'freebsd10-jailhost');
  if (deb?.status !== want || bsd?.status !== 'failed')
    throw new BenchAbort(
      `nightly: expected bullseye-nbd ${want} and the FreeBSD host failed, got ${stdout.slice(0, 2000)}`,
    );
}
