// tgtd for the site: every target of the site's tgt/conf.d, its portal on the interface's address.
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { foreground, type Running, runOk, until } from './running.js';

/** tgtd's management socket is /var/run/tgtd/socket.<port>: one of our own, not the system's (0). */
function controlPort(): number {
  for (;;) {
    const port = 1000 + Math.floor(Math.random() * 31000);
    if (!existsSync(`/var/run/tgtd/socket.${port}`)) return port;
  }
}

export async function startTgt(site: string, addr: string, run: string): Promise<Running | undefined> {
  const dir = join(site, 'tgt/conf.d');
  if (!existsSync(dir) || !readdirSync(dir).some((f) => f.endsWith('.conf'))) return undefined;
  const port = String(controlPort());
  const tgtd = await foreground('tgtd', 'tgtd', ['-f', '-C', port, '--iscsi', `portal=${addr}:3260`]);
  try {
    await until('tgtd', () => existsSync(`/var/run/tgtd/socket.${port}`));
    const conf = join(run, 'targets.conf');
    writeFileSync(conf, `# written by netboot serve\ndefault-driver iscsi\ninclude ${dir}/*.conf\n`);
    await runOk('tgt-admin', 'tgt-admin', ['-C', port, '-e', '-c', conf]);
  } catch (e) {
    await shutdown(port, tgtd);
    throw e;
  }
  return { name: 'tgtd', stop: () => shutdown(port, tgtd) };
}

/**
 * tgtd ignores SIGTERM while it has targets: as Debian's unit does, its targets go offline and
 * away (-f: also those in use), then the daemon is told to exit; a signal only if it is still there.
 */
async function shutdown(port: string, tgtd: Running): Promise<void> {
  for (const args of [
    ['tgt-admin', '-C', port, '--offline', 'ALL'],
    ['tgt-admin', '-C', port, '--update', 'ALL', '-c', '/dev/null', '-f'],
    ['tgtadm', '-C', port, '--op', 'delete', '--mode', 'system'],
  ])
    await runOk('tgtd', args[0], args.slice(1)).catch(() => undefined);
  await tgtd.stop();
  rmSync(`/var/run/tgtd/socket.${port}`, { force: true });
  rmSync(`/var/run/tgtd/socket.${port}.lock`, { force: true });
}
