import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno } from '../base/errno.js';
import { groupMembers } from '../core/process-group.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/**
 * Stops a process by pid, with its whole process group when it leads one (what start() makes):
 * SIGTERM, then SIGKILL after `graceMs`; waits until they are gone.
 */
export async function stopPid(pid: number, graceMs = 5000): Promise<void> {
  // kill(0) and kill(-0) mean our own process group: never a process of ours to stop.
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`stopPid: ${pid} is not a process id`);
  const group = groupMembers(pid).length > 0;
  const alive = () => {
    if (group) return groupMembers(pid).length > 0;
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      if (isErrno(e, 'ESRCH')) return false;
      throw e;
    }
  };
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(group ? -pid : pid, sig);
    } catch (e) {
      if (!isErrno(e, 'ESRCH')) throw e; // gone meanwhile
    }
  };
  if (!alive()) return;
  send('SIGTERM');
  for (let waited = 0; alive() && waited < graceMs; waited += 100) await sleep(100);
  if (alive()) send('SIGKILL');
  while (alive()) await sleep(50);
}

/** Starts a program in a process group of its own, with its output collected, for processes we stop ourselves. */
export function start(cmd: string, args: string[]): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, output: () => out };
}
