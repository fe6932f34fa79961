import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors } from '../base/errors.js';
import { start, stopPid } from './processes.js';

export interface NbdServer {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * nbd-server on 127.0.0.1 serving one export, for tests and boot tests. It forks into the
 * background and writes a pid file; we stop it by that pid and wait until it is gone (it takes
 * a moment, and a quick restart on the same port fails silently otherwise).
 */
export async function startNbdServer(dir: string, exportName: string, image: string, port: number): Promise<NbdServer> {
  const conf = join(dir, 'nbd-server.conf');
  const pidFile = join(dir, 'nbd-server.pid');
  writeFileSync(conf, `[generic]\nlistenaddr = 127.0.0.1\nport = ${port}\n\n[${exportName}]\nexportname = ${image}\n`);
  const p = start('nbd-server', ['-C', conf, '-p', pidFile]);
  const code = await new Promise<number | null>((resolve) => p.child.on('close', resolve));
  for (let i = 0; i < 50 && !existsSync(pidFile); i++) await sleep(100);
  if (code !== 0 || !existsSync(pidFile)) throw errors.serverFailed('nbd-server', p.output().trim() || `exit ${code}`);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return { port, pid, stop: () => stopPid(pid) };
}
