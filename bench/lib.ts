import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One tool's timings within a case; stats are derived when reporting. */
export interface Row {
  tool: string;
  samples: number[];
  /** Anything else measured of this tool's runs (bytes written): shown in the case's detail column. */
  detail?: string;
}

/** "`tool`'s median is within `factor`x of `baseline`'s": the goal a case is judged by. */
export interface Target {
  label: string;
  tool: string;
  baseline: string;
  factor: number;
}

export interface CaseResult {
  name: string;
  /** The row every ratio is taken against: measured inside the case, interleaved with the rest. */
  baseline: string;
  rows: Row[];
  target?: Target;
  notes?: string[];
  /** Heading of an extra column holding each row's `detail`; without it the column is left out. */
  detailHead?: string;
  /** Why the case did not run (e.g. BENCH_SKIP_DEBIAN=1): reported in place of its table, `rows` empty. */
  skipped?: string;
}

export interface BenchContext {
  root: string;
  runs: number;
  /** BENCH_RUNS was given: a slow case that picks a smaller default of its own honours `runs` instead. */
  runsSet: boolean;
  /** The environment every timed child gets. */
  env: NodeJS.ProcessEnv;
}

/** A case may report several tables when they share an expensive setup (one fixture build). */
export type BenchCase = (ctx: BenchContext) => Promise<CaseResult | CaseResult[]>;

/** A failure that makes the numbers meaningless: reported as one line, and the run stops. */
export class BenchAbort extends Error {}

export interface Cmd {
  label: string;
  file: string;
  args: string[];
  cwd: string;
  /** Set on top of the case's environment for this command only. */
  env?: NodeJS.ProcessEnv;
}

/** The checkout: found by walking up from this file, since tsc puts it at dist/bench/, not bench/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'netboot') return dir;
    const up = dirname(dir);
    if (up === dir) throw new BenchAbort(`cannot find the netboot checkout above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

function describe(cmd: Cmd): string {
  return [cmd.file, ...cmd.args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

function checkExit(cmd: Cmd, r: SpawnSyncReturns<unknown>): void {
  if (r.error) throw new BenchAbort(`${cmd.label}: cannot run \`${describe(cmd)}\`: ${r.error.message}`);
  if (r.status !== 0) {
    const how = r.signal ? `was killed by ${r.signal}` : `exited with status ${r.status}`;
    const out = [r.stdout, r.stderr]
      .map((b) => (b ? String(b).trim() : ''))
      .filter(Boolean)
      .join('\n');
    throw new BenchAbort(`${cmd.label}: \`${describe(cmd)}\` (in ${cmd.cwd}) ${how}${out ? `:\n${out}` : ''}`);
  }
}

/** Runs a command to completion with its output captured: for warm-ups and sanity checks, not timing. */
export function runChecked(cmd: Cmd, env: NodeJS.ProcessEnv): string {
  const r = spawnSync(cmd.file, cmd.args, {
    cwd: cmd.cwd,
    env: { ...env, ...cmd.env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  checkExit(cmd, r);
  return r.stdout;
}

/** Wall time of one run, in ms. Output is discarded so terminal speed is not part of the number. */
export function timeOnce(cmd: Cmd, env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd.file, cmd.args, { cwd: cmd.cwd, env: { ...env, ...cmd.env }, stdio: 'ignore' });
  const t1 = process.hrtime.bigint();
  checkExit(cmd, r);
  return Number(t1 - t0) / 1e6;
}

/** Like timeOnce, but keeps stdout (a `--json` report): for commands whose output says what they did. */
export function timeCaptured(cmd: Cmd, env: NodeJS.ProcessEnv): { ms: number; stdout: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd.file, cmd.args, {
    cwd: cmd.cwd,
    env: { ...env, ...cmd.env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const t1 = process.hrtime.bigint();
  checkExit(cmd, r);
  return { ms: Number(t1 - t0) / 1e6, stdout: r.stdout };
}

interface Spawned {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One run without blocking this process (a server it runs, an archive or a registry, keeps answering). */
function spawnCaptured(cmd: Cmd, env: NodeJS.ProcessEnv): Promise<Spawned> {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd.file, cmd.args, {
    cwd: cmd.cwd,
    env: { ...env, ...cmd.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((res) =>
    child.on('close', (code) => res({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, stdout, stderr })),
  );
}

/** Like timeCaptured, without blocking this process: a server it runs (an archive, a registry) keeps answering. */
export async function timeSpawned(cmd: Cmd, env: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string }> {
  const r = await spawnCaptured(cmd, env);
  if (r.code !== 0) throw new BenchAbort(`${cmd.label} exited ${r.code}:\n${r.stderr.slice(-2000)}`);
  return { ms: r.ms, stdout: r.stdout };
}

/**
 * Times each command `runs` times, interleaved run by run so drift (thermal, page cache, other
 * load) hits every tool alike. The order rotates each round so no tool always runs right after
 * the same other one.
 */
export function timeInterleaved(cmds: Cmd[], runs: number, env: NodeJS.ProcessEnv): Row[] {
  const rows = cmds.map((c) => ({ tool: c.label, samples: [] as number[] }));
  for (let i = 0; i < runs; i++)
    for (let j = 0; j < cmds.length; j++) {
      const k = (i + j) % cmds.length;
      rows[k].samples.push(timeOnce(cmds[k], env));
    }
  return rows;
}

/**
 * Copies a fixture into a fresh temp dir so each bench run starts from an empty cache, and makes
 * `import ... from 'netboot'` resolve there to this checkout (package.json's exports map applies).
 */
export async function stageFixture(root: string, fixture: string): Promise<string> {
  const src = join(root, 'bench', 'fixtures', fixture);
  if (!existsSync(src)) throw new BenchAbort(`fixture ${src} is missing`);
  const dir = await mkdtemp(join(tmpdir(), `netboot-bench-${fixture}-`));
  try {
    // A fixture someone built in place carries its cache and compiled config: leave those behind.
    await cp(src, dir, { recursive: true, filter: (p) => basename(p) !== '.netboot' });
    await mkdir(join(dir, 'node_modules'));
    await symlink(root, join(dir, 'node_modules', 'netboot'), 'dir');
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return dir;
}

/** Runs `fn` with a staged copy of the fixture, removing the copy however `fn` ends. */
export async function withFixture<T>(root: string, fixture: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await stageFixture(root, fixture);
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function min(xs: number[]): number {
  return Math.min(...xs);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A slow case prints a line per stage on stderr, so a silent terminal does not look hung. */
export function progress(scope: string, line: string): void {
  process.stderr.write(`${scope}: ${line}\n`);
}

/** Flushes dirty pages, untimed, so one tool's writeback does not land in the next tool's time. */
export function settle(): void {
  spawnSync('sync', [], { stdio: 'ignore' });
}

/** Removes a dir, unless something is mounted under it: rm would follow a leftover /dev bind into the host's /dev. */
export async function removeTree(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
  if (mounts.length)
    throw new BenchAbort(`${mounts.join(', ')} still mounted; not removing ${dir} (umount -R them, then rm -rf it)`);
  await rm(dir, { recursive: true, force: true });
}

/** A case that builds Debian returns this when BENCH_SKIP_DEBIAN=1 (it needs root, deb.debian.org and minutes). */
export function skipDebian(name: string): CaseResult | undefined {
  if (process.env.BENCH_SKIP_DEBIAN !== '1') return undefined;
  return { name, baseline: '', rows: [], skipped: 'BENCH_SKIP_DEBIAN=1; it needs root, deb.debian.org and minutes' };
}

/** `netboot <args>` in a project directory, by this checkout's CLI. */
export function netboot(ctx: BenchContext, dir: string, args: string[]): Cmd {
  return {
    label: args.join(' '),
    file: process.execPath,
    args: [join(ctx.root, 'bin', 'netboot.js'), ...args],
    cwd: dir,
  };
}

/**
 * Runs a build until its no-op stamp answers it (none is written while a file it read is under a
 * second old), asynchronously, so a server in this process (a local archive) can answer it.
 */
export async function stamped(cmd: Cmd, env: NodeJS.ProcessEnv): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 600));
    if ((await tryAnswered(cmd, env)) !== undefined) return;
  }
  throw new BenchAbort(`${cmd.label}: ten builds and none answered from its no-op stamp`);
}

async function tryAnswered(cmd: Cmd, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const r = await spawnCaptured({ ...cmd, env: { ...cmd.env, NETBOOT_FAST_NOOP: 'why' } }, env);
  if (r.code !== 0) throw new BenchAbort(`${cmd.label} failed:\n${r.stderr.slice(-2000)}`);
  return r.stderr.includes('no-op stamp: nothing changed; answered from it') ? r.stdout : undefined;
}

/** The stdout of a build the stamp still answers; stops the bench if it no longer does. */
export async function answered(cmd: Cmd, env: NodeJS.ProcessEnv): Promise<string> {
  const out = await tryAnswered(cmd, env);
  if (out === undefined) throw new BenchAbort(`${cmd.label}: no longer answered from its no-op stamp`);
  return out;
}
