// nbd-server for the site: every export of the site's conf.d, on the interface's address only.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors } from '../../base/errors.js';
import { stopPid } from '../processes.js';
import { pidIn, type Running, runOk, until } from './running.js';

/** The main config: where to listen, and the site's conf.d (read through the live link). */
export function nbdMainConfig(site: string, addr: string): string {
  const dir = join(site, 'nbd-server/conf.d');
  return `# written by netboot serve\n[generic]\nlistenaddr = ${addr}\nincludedir = ${dir}\n`;
}

/** Starts nbd-server when the site has an export; it daemonizes, so it is stopped by its pid file. */
export async function startNbd(site: string, addr: string, run: string): Promise<Running | undefined> {
  const dir = join(site, 'nbd-server/conf.d');
  if (!existsSync(dir) || !readdirSync(dir).some((f) => f.endsWith('.conf'))) return undefined;
  const conf = join(run, 'nbd-server.conf');
  const pidFile = join(run, 'nbd-server.pid');
  writeFileSync(conf, nbdMainConfig(site, addr));
  await runOk('nbd-server', 'nbd-server', ['-C', conf, '-p', pidFile]);
  await until('nbd-server', () => pidIn(pidFile) > 0).catch(() => {
    throw errors.serverFailed('nbd-server', `no pid in ${pidFile}`);
  });
  const pid = pidIn(pidFile);
  return { name: 'nbd-server', stop: () => stopPid(pid) };
}
