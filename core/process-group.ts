import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno, isMissing } from '../base/errno.js';

/** How long a process group has after SIGTERM before it gets SIGKILL. */
const KILL_GRACE_MS = 5000;
/** After SIGKILL: a process stuck in the kernel (D state) is waited for this long, then left. */
const KILL_WAIT_MS = 2000;

const all = new Set<ProcessGroups>();
let hurried = false;

/**
 * Live (not zombie) members of a process group. A zombie cannot be killed and may never be
 * reaped where pid 1 does not reap, so it does not count.
 */
export function groupMembers(pgid: number): number[] {
  // kill(-0) is our own group, and pgrp 0 in /proc is every kernel thread.
  if (!Number.isInteger(pgid) || pgid <= 0) throw new Error(`groupMembers: ${pgid} is not a process group id`);
  try {
    process.kill(-pgid, 0);
  } catch (e) {
    if (isErrno(e, 'ESRCH')) return [];
    throw e;
  }
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') found.push(Number(name));
    } catch (e) {
      if (!isMissing(e) && !isErrno(e, 'ESRCH')) throw e; // exited meanwhile
    }
  }
  return found;
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  if (!Number.isInteger(pgid) || pgid <= 0) throw new Error(`signalGroup: ${pgid} is not a process group id`);
  try {
    process.kill(-pgid, sig);
  } catch (e) {
    if (!isErrno(e, 'ESRCH')) throw e; // already gone
  }
}

/**
 * The process groups of one job (a step's commands, a boot test's servers). Each program is
 * started detached, so it leads a group its children and their children stay in: a stop then
 * reaches them all, which killing the one process zx started does not.
 */
export class ProcessGroups {
  private readonly pgids = new Set<number>();
  private stopping?: Promise<void>;

  spawn(cmd: string, args: readonly string[], opts: SpawnOptions): ChildProcess {
    const child = spawn(cmd, args, { ...opts, detached: true });
    const pid = child.pid;
    if (pid) {
      this.pgids.add(pid);
      all.add(this);
      if (hurried) signalGroup(pid, 'SIGKILL');
      // A group seen empty is forgotten at once: its number may be reused for someone else's.
      child.once('exit', () => groupMembers(pid).length || this.pgids.delete(pid));
    }
    return child;
  }

  /**
   * Ends every group that still has members: SIGTERM, SIGKILL after the grace period (at once
   * after a second signal, see hurry), and waits until they are gone. Calls while one runs share it.
   */
  stop(graceMs = KILL_GRACE_MS): Promise<void> {
    this.stopping ??= this.end(graceMs).finally(() => (this.stopping = undefined));
    return this.stopping;
  }

  private async end(graceMs: number): Promise<void> {
    const alive = () => [...this.pgids].filter((g) => groupMembers(g).length || !this.pgids.delete(g));
    if (alive().length) {
      this.signal('SIGTERM');
      for (const t0 = Date.now(); alive().length && !hurried && Date.now() - t0 < graceMs; ) await sleep(50);
      this.signal('SIGKILL');
      for (const t0 = Date.now(); alive().length && Date.now() - t0 < KILL_WAIT_MS; ) await sleep(20);
    }
    if (!this.pgids.size) all.delete(this);
  }

  signal(sig: NodeJS.Signals): void {
    for (const g of this.pgids) signalGroup(g, sig);
  }
}

/** A second signal: no more grace. Every group being stopped, and any started from now on, gets SIGKILL. */
export function hurry(): void {
  hurried = true;
  for (const g of all) g.signal('SIGKILL');
}
