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
  // The file exists before the pid is in it: an empty read is pid 0, and stopping "pid 0" signals
  // our own process group (it stopped whole test runs, and left this server running).
  let pid = 0;
  for (let i = 0; i < 50 && code === 0 && !(pid = pidIn(pidFile)); i++) await sleep(100);
  if (!pid) throw errors.serverFailed('nbd-server', p.output().trim() || `exit ${code}, no pid in ${pidFile}`);
  return { port, pid, stop: () => stopPid(pid) };
}

/** The positive pid a pid file holds, or 0 while it is missing, empty or partly written. */
function pidIn(file: string): number {
  if (!existsSync(file)) return 0;
  const text = readFileSync(file, 'utf8');
  const pid = Number(text.trim());
  return text.endsWith('\n') && Number.isInteger(pid) && pid > 0 ? pid : 0;
}
