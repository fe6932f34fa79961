import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

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

/** Stops a process by pid: SIGTERM, then SIGKILL after `graceMs`; waits until it is gone. */
export async function stopPid(pid: number, graceMs = 5000): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; alive() && waited < graceMs; waited += 100) await sleep(100);
  if (alive()) process.kill(pid, 'SIGKILL');
  while (alive()) await sleep(50);
}

/** Starts a program with its output collected, for processes we stop ourselves. */
export function start(cmd: string, args: string[]): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, output: () => out };
}
