// One server `netboot serve` runs: started in a process group of its own, stopped by its pid.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors } from '../../base/errors.js';
import { start, stopPid } from '../processes.js';

export interface Running {
  name: string;
  stop(): Promise<void>;
}

/** A foreground server: it must still be running after `settleMs`, or its output is the error. */
export async function foreground(name: string, cmd: string, args: string[], settleMs = 500): Promise<Running> {
  const p = start(cmd, args);
  const exited = exitOf(p.child);
  const code = await Promise.race([exited, sleep(settleMs).then(() => 'running' as const)]);
  if (code !== 'running') throw errors.serverFailed(name, p.output().trim() || `exit ${code}`);
  return { name, stop: () => stopPid(p.child.pid!) };
}

/** Runs a command to its end; its output is the error when it fails. */
export async function runOk(name: string, cmd: string, args: string[]): Promise<string> {
  const p = start(cmd, args);
  const code = await exitOf(p.child);
  if (code !== 0) throw errors.serverFailed(name, `${cmd} ${args.join(' ')}: ${p.output().trim() || `exit ${code}`}`);
  return p.output();
}

/** Waits until `test` holds (every 100 ms, up to `ms`); `what` names it in the error. */
export async function until(what: string, test: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  for (let t = 0; t < ms; t += 100) {
    if (await test()) return;
    await sleep(100);
  }
  throw errors.serverFailed(what, `not ready after ${ms / 1000} s`);
}

/** The positive pid a pid file holds, or 0 while it is missing, empty or partly written. */
export function pidIn(file: string): number {
  if (!existsSync(file)) return 0;
  const text = readFileSync(file, 'utf8');
  const pid = Number(text.trim());
  return text.endsWith('\n') && Number.isInteger(pid) && pid > 0 ? pid : 0;
}

const exitOf = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(127));
    child.on('close', (code) => resolve(code));
  });
