import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
export const BIN = join(ROOT, 'bin/netboot.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A throw-away project: a copy of a fixture folder where `import 'netboot'` resolves to this checkout.
 * With `cache`, every command it runs sees NETBOOT_TEST_CACHE, which fixtures that build Debian hosts
 * take as their cache (`inject('sharedDebianCache')`: one per test run, see global-setup.ts).
 */
export class Project {
  readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;
  constructor(fixture: string, o: { cache?: string } = {}) {
    this.env = o.cache ? { NETBOOT_TEST_CACHE: o.cache } : {};
    this.dir = mkdtempSync(join(tmpdir(), 'netboot-test-'));
    cpSync(join(ROOT, 'test/fixtures', fixture), this.dir, { recursive: true });
    mkdirSync(join(this.dir, 'node_modules'), { recursive: true });
    symlinkSync(ROOT, join(this.dir, 'node_modules/netboot'));
  }
  path(...p: string[]): string {
    return join(this.dir, ...p);
  }
  run(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: this.dir,
      env: { ...process.env, CI: 'true', ...this.env, ...env },
      encoding: 'utf8',
    });
    return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
  }
  json<T = any>(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; data: T; stderr: string } {
    const r = this.run([...args, '--json'], env);
    let data: T;
    try {
      data = JSON.parse(r.stdout) as T;
    } catch {
      throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    return { code: r.code, data, stderr: r.stderr };
  }
  /** Like run, without blocking the test worker (vitest's RPC times out behind a long spawnSync). */
  async runAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    const r = await exitOf(this.spawn(args, env));
    return { code: r.code ?? 128, stdout: r.stdout, stderr: r.stderr };
  }
  async jsonAsync<T = any>(
    args: string[],
    env: NodeJS.ProcessEnv = {},
  ): Promise<{ code: number; data: T; stderr: string }> {
    const r = await this.runAsync([...args, '--json'], env);
    try {
      return { code: r.code, data: JSON.parse(r.stdout) as T, stderr: r.stderr };
    } catch {
      throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
  }
  spawn(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    return spawn(process.execPath, [BIN, ...args], {
      cwd: this.dir,
      env: { ...process.env, CI: 'true', ...this.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface StepRow {
  host: string;
  step: string;
  outcome: 'cached' | 'remote' | 'unpulled' | 'ran' | 'failed' | 'skipped' | 'stale';
  key: string | null;
  reasons: string[];
  outputs: Record<string, { kind: string; digest: string }> | null;
  error: { code: string; message: string; details: string[] } | null;
}

export const ran = (steps: StepRow[]) =>
  steps
    .filter((s) => s.outcome === 'ran')
    .map((s) => s.step)
    .sort();
export const byStep = (steps: StepRow[]) => Object.fromEntries(steps.map((s) => [s.step, s]));

export function exitOf(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  return new Promise((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
}

/** Runs a config checker (dnsmasq --test, dhcpd -t, ...): its exit code and its output. */
export const runChecker = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw r.error; // a missing checker fails the test: scripts/install-deps.sh installs it
  return { code: r.status, out: (r.stdout + r.stderr).trim() };
};

/** Writes a file, making its directories first; returns its path. */
export const writeAt = (path: string, content: string) => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  return path;
};
